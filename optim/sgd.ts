/**
 * sgd: plain stochastic gradient descent, with optional momentum and weight
 * decay: v = momentum v + (g + decay w); w -= lr v.
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { OptimizerPlugin, OptimizerState } from "../engine/types.ts";

/** Config of sgd. */
export interface SgdConfig {
  /** Learning rate, > 0 (default 0.01). */
  readonly lr: number;
  /** Fraction of the last velocity kept, in 0..0.999999 (default 0: no momentum). */
  readonly momentum: number;
  /** L2 decay: `weightDecay` times w is added to each gradient, >= 0 (default 0). */
  readonly weightDecay: number;
}

/** The `sgd` optimizer: stochastic gradient descent. Config: `lr`, `momentum`, `weightDecay`. */
export const sgd: OptimizerPlugin<SgdConfig> = {
  type: "sgd",
  description: "stochastic gradient descent, optional momentum and weight decay",
  needsCurvature: false,
  configure(raw, where) {
    const r = new ConfigReader(raw, where, ["type"]);
    const c = {
      lr: r.number("lr", { min: 0, exclusiveMin: true, fallback: 0.01 }),
      momentum: r.number("momentum", { min: 0, max: 0.999999, fallback: 0 }),
      weightDecay: r.number("weightDecay", { min: 0, fallback: 0 }),
    };
    r.done();
    return c;
  },
  learningRate: (c) => c.lr,
  createState: (c, size): OptimizerState => (c.momentum > 0 ? { velocity: new Float32Array(size) } : {}),
  step(c, state, { params, grads, lr }) {
    const v = state.velocity as Float32Array | undefined;
    const mu = c.momentum, wd = c.weightDecay;
    for (let k = 0; k < params.length; k++) {
      const g = grads[k] + wd * params[k];
      if (v) {
        v[k] = mu * v[k] + g;
        params[k] -= lr * v[k];
      } else {
        params[k] -= lr * g;
      }
    }
  },
};
