/**
 * adam: Kingma and Ba's Adam with bias correction (for the modern variant).
 *
 * @module
 */
import { ConfigReader, integerRule, numberRule } from "../engine/config.ts";
import type { OptimizerPlugin } from "../engine/types.ts";

/** Config of adam. */
export interface AdamConfig {
  /** Learning rate, > 0 (default 0.001). */
  readonly lr: number;
  /** Decay of the running mean of the gradient, in 0..0.999999 (default 0.9). */
  readonly beta1: number;
  /** Decay of the running mean of the squared gradient, in 0..0.999999999 (default 0.999). */
  readonly beta2: number;
  /** Added to the root of the second moment so that steps stay finite, > 0 (default 1e-8). */
  readonly eps: number;
}

/** The `adam` optimizer: Adam with bias correction. Config: `lr`, `beta1`, `beta2`, `eps`. */
export const adam: OptimizerPlugin<AdamConfig> = {
  type: "adam",
  description: "Adam: per-parameter steps from running moments of the gradient",
  needsCurvature: false,
  stateRules: { v: numberRule("a number >= 0 (Adam's second moments)", (v) => v >= 0), t: integerRule(0) },
  configure(raw, where) {
    const r = new ConfigReader(raw, where, ["type"]);
    const c = {
      lr: r.number("lr", { min: 0, exclusiveMin: true, fallback: 0.001 }),
      beta1: r.number("beta1", { min: 0, max: 0.999999, fallback: 0.9 }),
      beta2: r.number("beta2", { min: 0, max: 0.999999999, fallback: 0.999 }),
      eps: r.number("eps", { min: 0, exclusiveMin: true, fallback: 1e-8 }),
    };
    r.done();
    return c;
  },
  learningRate: (c) => c.lr,
  createState: (_c, size) => ({ m: new Float32Array(size), v: new Float32Array(size), t: 0 }),
  step(c, state, { params, grads, lr }) {
    const m = state.m as Float32Array, v = state.v as Float32Array;
    const t = (state.t as number) + 1;
    state.t = t;
    const { beta1: b1, beta2: b2, eps } = c;
    const c1 = 1 / (1 - b1 ** t), c2 = 1 / (1 - b2 ** t);
    for (let k = 0; k < params.length; k++) {
      const g = grads[k];
      m[k] = b1 * m[k] + (1 - b1) * g;
      v[k] = b2 * v[k] + (1 - b2) * g * g;
      params[k] -= (lr * m[k] * c1) / (Math.sqrt(v[k] * c2) + eps);
    }
  },
};
