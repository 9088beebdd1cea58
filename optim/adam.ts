/**
 * adam: Kingma and Ba's Adam with bias correction (for the modern variant).
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { OptimizerPlugin } from "../engine/types.ts";

/** Config of adam. */
export interface AdamConfig {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
}

export const adam: OptimizerPlugin<AdamConfig> = {
  type: "adam",
  description: "Adam: per-parameter steps from running moments of the gradient",
  needsCurvature: false,
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
