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
  type CurvatureAccess,
  type CurvatureLoss,
  type Floats,
  GraphError,
  type Labels,
  type OptimizerPlugin,
  type OptimizerState,
  type OptimizerWork,
  type PassNotes,
} from "./types.ts";

/** An optimizer as data: its registered type and its config. */
export interface OptimizerSpec {
  /** Registered optimizer type, e.g. `"sdlm"`. */
  readonly type: string;
  /** The optimizer's config fields (e.g. `lr` and `mu` of sdlm). */
  readonly [field: string]: unknown;
}

/** Patterns with their labels, as the rule's hooks get them. */
export interface Batch {
  /** Inputs, pattern after pattern. */
  readonly inputs: Floats;
  /** Their classes. */
  readonly labels: Labels;
  /** Number of patterns. */
  readonly count: number;
}

/** An optimizer plugin with its checked config and its state for one model. */
export class Optimizer {
  /** What the rule derives for its steps (SDLM's step sizes), never saved. */
  readonly work: OptimizerWork = {};

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
      vectors: model.vectors,
      work: this.work,
    });
  }

  /**
   * Before a pass: the rule's own preparation, e.g. SDLM's h_kk estimated on
   * `sample(count)` (patterns drawn for the pass) and its step sizes for `lr`.
   */
  beforePass(model: Model, pass: number, lr: number, sample: (count: number) => Batch): PassNotes {
    if (!this.plugin.beforePass) return {};
    const estimateOnSample = (count: number, loss?: CurvatureLoss) => estimateOn(model, sample(count), loss);
    return this.plugin.beforePass(this.config, this.state, { pass, lr, ...this.#access(model), estimateOnSample });
  }

  /** After update number `step` on `batch` (e.g. SDLM's running h_kk). */
  afterStep(model: Model, step: number, lr: number, batch: Batch): void {
    const estimateOnBatch = (loss?: CurvatureLoss) => estimateOn(model, batch, loss);
    this.plugin.afterStep?.(this.config, this.state, { step, lr, ...this.#access(model), estimateOnBatch });
  }

  /** After a pass's last update. */
  afterPass(model: Model): void {
    this.plugin.afterPass?.(this.config, this.state, this.#access(model));
  }

  /** The model's curvature and this rule's work, as the hooks see them. */
  #access(model: Model): CurvatureAccess {
    return { hess: model.hess, vectors: model.vectors, work: this.work };
  }

  /**
   * Drops what the rule derived (SDLM's step sizes), for code that writes
   * `model.hess` itself between steps; the rule's own hooks keep it current.
   */
  forget(): void {
    for (const k of Object.keys(this.work)) delete this.work[k];
  }
}

/** h_kk over the patterns of `batch`, taking the curvature of `loss` (default the model's own). */
function estimateOn(model: Model, batch: Batch, loss?: CurvatureLoss): Floats {
  return estimateCurvature(model, batch.inputs, batch.labels, batch.count, { loss });
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
  const config = plugin.configure(spec, where, { losses: registry.losses, scores: model.outputShape });
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
    loss?: CurvatureLoss;
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
