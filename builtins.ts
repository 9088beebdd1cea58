/**
 * The one place where the built-in layers, losses, optimizers and the
 * layers' `wasm` kernels are registered. Importing a plugin file registers
 * nothing by itself.
 *
 * @module
 */
import type { KernelConfig } from "./engine/kernels.ts";
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
import { WASM_KERNELS } from "./layers/_wasm_kernels.ts";
import { mapLoss } from "./losses/map.ts";
import { mseRbfLoss } from "./losses/mse_rbf.ts";
import { softmaxCrossEntropyLoss } from "./losses/softmax_cross_entropy.ts";
import { adam } from "./optim/adam.ts";
import { sdlm } from "./optim/sdlm.ts";
import { sgd } from "./optim/sgd.ts";

const layers = [conv2d, subsample, avgpool, maxpool, squash, tanh, relu, full, flatten, rbf];

/** The built-in layer plugins. */
export const BUILTIN_LAYERS: readonly LayerPlugin[] = layers as LayerPlugin[];

/** The built-in losses. */
export const BUILTIN_LOSSES: readonly LossPlugin[] = [mapLoss, mseRbfLoss, softmaxCrossEntropyLoss] as LossPlugin[];

/** The built-in optimizers. */
export const BUILTIN_OPTIMIZERS: readonly OptimizerPlugin[] = [sgd, sdlm, adam] as OptimizerPlugin[];

/** The built-in layers' kernels for the `wasm` backend. */
export const BUILTIN_KERNELS: readonly KernelConfig[] = WASM_KERNELS;

/**
 * Adds the built-ins to `registries`, each plugin with the module URL that
 * worker threads import them from: `options.module`, a module that exports
 * this function (default this file; a bundle of it gives its own URL).
 */
export function registerBuiltins(registries: Registries, options: { module?: string | URL } = {}): Registries {
  const module = options.module ?? import.meta.url;
  for (const p of BUILTIN_LAYERS) registries.layers.register(p, { module });
  for (const p of BUILTIN_LOSSES) registries.losses.register(p, { module });
  for (const p of BUILTIN_OPTIMIZERS) registries.optimizers.register(p, { module });
  for (const k of BUILTIN_KERNELS) registries.kernels.register(k);
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
