/**
 * Training steps: an optimizer bound to a model, one update on a batch, and
 * the curvature estimate SDLM needs.
 *
 * @module
 */
import { show } from "./config.ts";
import type { Model } from "./model.ts";
import type { Registries } from "./registry.ts";
import {
  type Floats,
  GraphError,
  type Labels,
  type LossPlugin,
  type OptimizerPlugin,
  type OptimizerState,
} from "./types.ts";

/** An optimizer as data: its registered type and its config. */
export interface OptimizerSpec {
  /** Registered optimizer type, e.g. `"sdlm"`. */
  readonly type: string;
  /** The optimizer's config fields (e.g. `lr` and `mu` of sdlm). */
  readonly [field: string]: unknown;
}

/** An optimizer plugin with its checked config and its state for one model. */
export class Optimizer {
  /** Binds an update rule, its checked config and its state; {@linkcode createOptimizer} makes one for a model. */
  constructor(
    /** The update rule. */
    readonly plugin: OptimizerPlugin,
    /** Its config, as the plugin's `configure` checked and returned it. */
    readonly config: unknown,
    /** Its state for one model (e.g. Adam's moments), saved with a run. */
    readonly state: OptimizerState,
  ) {}

  /** The learning rate the config asks for. */
  get lr(): number {
    return this.plugin.learningRate(this.config);
  }

  /** Applies one update from the model's accumulated gradients (and curvature). */
  step(model: Model, lr: number = this.lr): void {
    this.plugin.step(this.config, this.state, {
      params: model.params.subarray(0, model.trainableCount),
      grads: model.grads,
      hess: this.plugin.needsCurvature ? model.hess : null,
      lr,
      curvatureVersion: model.curvatureVersion,
      vectors: model.vectors,
    });
  }
}

/**
 * Looks up and configures an optimizer for `model`.
 *
 * @example
 * ```ts
 * import { buildModel, createOptimizer, defaultRegistry } from "../mod.ts";
 * const model = buildModel({ input: [2], layers: [{ type: "full", units: 2 }], loss: { type: "softmax-cross-entropy" } }, { registry: defaultRegistry });
 * const opt = createOptimizer({ type: "sgd", lr: 0.1 }, model, defaultRegistry);
 * if (opt.lr !== 0.1) throw new Error("lr");
 * ```
 */
export function createOptimizer(spec: OptimizerSpec, model: Model, registry: Registries): Optimizer {
  if (spec === null || typeof spec !== "object") {
    throw new GraphError(`Cannot build optimizer: expected an object such as { "type": "sgd" }, got ${show(spec)}`);
  }
  const plugin = registry.optimizers.get(spec.type, "the optimizer");
  const where = { label: `optimizer (${plugin.type})` };
  const config = plugin.configure(spec, where);
  return new Optimizer(plugin, config, plugin.createState(config, model.trainableCount));
}

/**
 * One update on a batch: zero the gradients, forward, backward, step.
 * Returns the batch's mean loss before the update; with `predictions`, also
 * writes there the predicted class of each pattern before the update.
 *
 * @example
 * ```ts
 * import { buildModel, createOptimizer, defaultRegistry, trainStep } from "../mod.ts";
 * const model = buildModel({ input: [2], layers: [{ type: "full", units: 2 }], loss: { type: "softmax-cross-entropy" } }, { registry: defaultRegistry });
 * const opt = createOptimizer({ type: "sgd", lr: 0.5 }, model, defaultRegistry);
 * const x = new Float32Array([1, 0, 0, 1]), labels = [0, 1];
 * const first = trainStep(model, opt, x, labels, 2);
 * for (let i = 0; i < 20; i++) trainStep(model, opt, x, labels, 2);
 * if (!(trainStep(model, opt, x, labels, 2) < first)) throw new Error("loss should fall");
 * ```
 */
export function trainStep(
  model: Model,
  optimizer: Optimizer,
  inputs: ArrayLike<number>,
  labels: Labels,
  n: number,
  lr?: number,
  predictions?: Int32Array,
): number {
  model.zeroGrads();
  model.forward(inputs, n);
  if (predictions) model.predictions(predictions.subarray(0, n));
  const loss = model.backward(labels);
  optimizer.step(model, lr);
  return loss;
}

/**
 * Estimates the diagonal second derivatives h_kk (Gauss-Newton) as their mean
 * over `count` patterns, into `model.hess`: what SDLM divides by. Leaves the
 * gradients at zero.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, estimateCurvature } from "../mod.ts";
 * const model = buildModel({ input: [3], layers: [{ type: "full", units: 2 }, { type: "squash" }, { type: "rbf", codes: ["10", "01"] }], loss: { type: "mse-rbf" } }, { registry: defaultRegistry });
 * const h = estimateCurvature(model, new Float32Array([1, 0, 0, 0, 1, 0]), [0, 1], 2);
 * if (!h.every((v) => v >= 0)) throw new Error("Gauss-Newton terms are non-negative");
 * ```
 */
export function estimateCurvature(
  model: Model,
  inputs: Floats,
  labels: Labels,
  count: number,
  options: {
    batch?: number;
    /** The loss whose curvature to take (default the model's own), e.g. the MSE criterion under a MAP loss. */
    loss?: { readonly plugin: LossPlugin; readonly config: unknown };
  } = {},
): Floats {
  const batch = Math.max(1, Math.min(options.batch ?? 50, count));
  const size = model.inputSize;
  model.zeroHess();
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    model.forward(inputs.subarray(s * size, (s + n) * size), n);
    const lab = ArrayBuffer.isView(labels)
      ? (labels as Uint8Array).subarray(s, s + n)
      : Array.prototype.slice.call(labels, s, s + n) as number[];
    model.backward(lab, { scale: 1 / count, loss: options.loss });
    model.backward2(lab, { scale: 1 / count, loss: options.loss });
  }
  model.zeroGrads();
  return model.hess;
}
