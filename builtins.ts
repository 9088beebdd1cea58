/**
 * The one place where the built-in layers, losses and optimizers are
 * registered. Importing a plugin file registers nothing by itself.
 *
 * @module
 */
import { emptyRegistries, type Registries } from "./engine/registry.ts";
import type { LayerPlugin, LossPlugin, OptimizerPlugin } from "./engine/types.ts";
import { relu, squash, tanh } from "./layers/activations.ts";
import { avgpool } from "./layers/avgpool.ts";
import { conv2d } from "./layers/conv2d.ts";
import { flatten } from "./layers/flatten.ts";
import { full } from "./layers/full.ts";
import { maxpool } from "./layers/maxpool.ts";
import { rbf } from "./layers/rbf.ts";
import { subsample } from "./layers/subsample.ts";
import { mapLoss } from "./losses/map.ts";
import { mseRbfLoss } from "./losses/mse_rbf.ts";
import { softmaxCrossEntropyLoss } from "./losses/softmax_cross_entropy.ts";
import { adam } from "./optim/adam.ts";
import { sdlm } from "./optim/sdlm.ts";
import { sgd } from "./optim/sgd.ts";

/** The built-in layer plugins. */
export const BUILTIN_LAYERS: readonly LayerPlugin[] = [
  conv2d,
  subsample,
  avgpool,
  maxpool,
  squash,
  tanh,
  relu,
  full,
  flatten,
  rbf,
] as LayerPlugin[];

/** The built-in losses. */
export const BUILTIN_LOSSES: readonly LossPlugin[] = [mapLoss, mseRbfLoss, softmaxCrossEntropyLoss] as LossPlugin[];

/** The built-in optimizers. */
export const BUILTIN_OPTIMIZERS: readonly OptimizerPlugin[] = [sgd, sdlm, adam] as OptimizerPlugin[];

/** Adds the built-ins to `registries`. */
export function registerBuiltins(registries: Registries): Registries {
  for (const p of BUILTIN_LAYERS) registries.layers.register(p);
  for (const p of BUILTIN_LOSSES) registries.losses.register(p);
  for (const p of BUILTIN_OPTIMIZERS) registries.optimizers.register(p);
  return registries;
}

/**
 * New registries holding the built-ins (independent of the default one).
 *
 * @example
 * ```ts
 * import { createRegistries } from "./builtins.ts";
 * const r = createRegistries();
 * if (!r.layers.has("conv2d")) throw new Error("conv2d is built in");
 * ```
 */
export function createRegistries(): Registries {
  return registerBuiltins(emptyRegistries());
}

/** The registries `buildModel` and the CLI use unless told otherwise; register your own plugins here. */
export const defaultRegistry: Registries = createRegistries();
