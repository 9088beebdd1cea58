/**
 * sdlm: stochastic diagonal Levenberg-Marquardt (appendix C, section III-B).
 * Each parameter k gets its own step eps_k = eta / (mu + h_kk), h_kk the
 * diagonal Gauss-Newton second derivative averaged over a sample of training
 * patterns (the trainer re-estimates it before each pass):
 *
 *   w_k <- w_k - eta / (mu + h_kk) * dE/dw_k
 *
 * Config: `lr` (eta; the paper schedules it, 0.0005 in pass 1), `mu` (0.02).
 * Negative h estimates (possible with a non-Gauss-Newton term) count as 0.
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { OptimizerPlugin } from "../engine/types.ts";

/** Config of sdlm. */
export interface SdlmConfig {
  readonly lr: number;
  readonly mu: number;
}

/** Per-parameter step sizes eta / (mu + max(h, 0)), written to `out`. */
export function sdlmStepSizes(c: SdlmConfig, lr: number, hess: ArrayLike<number>): Float32Array {
  const out = new Float32Array(hess.length);
  for (let k = 0; k < out.length; k++) out[k] = lr / (c.mu + Math.max(hess[k], 0));
  return out;
}

export const sdlm: OptimizerPlugin<SdlmConfig> = {
  type: "sdlm",
  description: "stochastic diagonal Levenberg-Marquardt: step eta/(mu + h_kk) per parameter",
  needsCurvature: true,
  configure(raw, where) {
    const r = new ConfigReader(raw, where, ["type"]);
    const c = {
      lr: r.number("lr", { min: 0, exclusiveMin: true, fallback: 0.0005 }),
      mu: r.number("mu", { min: 0, exclusiveMin: true, fallback: 0.02 }),
    };
    r.done();
    return c;
  },
  learningRate: (c) => c.lr,
  createState: () => ({}),
  stepSizes: (c, lr, hess) => sdlmStepSizes(c, lr, hess),
  step(c, _state, { params, grads, hess, lr }) {
    if (hess === null) throw new Error("Cannot take an sdlm step: no curvature estimate (run estimateCurvature first)");
    const mu = c.mu;
    for (let k = 0; k < params.length; k++) {
      const h = hess[k] > 0 ? hess[k] : 0;
      params[k] -= (lr / (mu + h)) * grads[k];
    }
  },
};
