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
import type { Floats, OptimizerPlugin, VectorKernels } from "../engine/types.ts";

/** SDLM's mu when a config gives none: the paper's 0.02. */
export const DEFAULT_SDLM_MU = 0.02;

/** Config of sdlm. */
export interface SdlmConfig {
  /** Global learning rate eta, > 0 (default 0.0005, the paper's first pass). */
  readonly lr: number;
  /** Added to each h_kk, bounding the step where the curvature is small; > 0 (default {@linkcode DEFAULT_SDLM_MU}). */
  readonly mu: number;
}

/** Per-parameter step sizes eta / (mu + max(h, 0)), written to `out`. */
export function sdlmStepSizes(c: SdlmConfig, lr: number, hess: ArrayLike<number>): Float32Array {
  const out = new Float32Array(hess.length);
  for (let k = 0; k < out.length; k++) out[k] = lr / (c.mu + Math.max(hess[k], 0));
  return out;
}

/** The `sdlm` optimizer: per-parameter steps eta / (mu + h_kk). Config: `lr`, `mu`. */
export const sdlm: OptimizerPlugin<SdlmConfig> = {
  type: "sdlm",
  description: "stochastic diagonal Levenberg-Marquardt: step eta/(mu + h_kk) per parameter",
  needsCurvature: true,
  configure(raw, where) {
    const r = new ConfigReader(raw, where, ["type"]);
    const c = {
      lr: r.number("lr", { min: 0, exclusiveMin: true, fallback: 0.0005 }),
      mu: r.number("mu", { min: 0, exclusiveMin: true, fallback: DEFAULT_SDLM_MU }),
    };
    r.done();
    return c;
  },
  learningRate: (c) => c.lr,
  createState: () => ({}),
  stepSizes: (c, lr, hess) => sdlmStepSizes(c, lr, hess),
  step(c, _state, { params, grads, hess, lr, curvatureVersion, vectors }) {
    if (hess === null) throw new Error("Cannot take an sdlm step: no curvature estimate (run estimateCurvature first)");
    const eps = stepsFor(c, hess, lr, curvatureVersion, vectors);
    if (vectors?.scaledStep(params, eps, grads)) return;
    for (let k = 0; k < params.length; k++) params[k] -= eps[k] * grads[k];
  },
};

/** The last step sizes computed for a curvature array, in double precision. */
interface CachedSteps {
  eps: Float64Array;
  lr: number;
  mu: number;
  version: number | undefined;
}

const cache = new WeakMap<Floats, CachedSteps>();

/**
 * eta / (mu + max(h_kk, 0)) for every parameter, kept while the curvature
 * (its version), eta and mu stay the same: the paper's steps change once per
 * pass, so a step needs no division per parameter. Doubles, so a step is
 * bit-identical to dividing there.
 */
function stepsFor(
  c: SdlmConfig,
  hess: Floats,
  lr: number,
  version: number | undefined,
  vectors: VectorKernels | undefined,
): Float64Array {
  let hit = cache.get(hess);
  if (hit && version !== undefined && hit.version === version && hit.lr === lr && hit.mu === c.mu) return hit.eps;
  if (!hit || hit.eps.length !== hess.length) {
    hit = { eps: vectors ? vectors.doubles(hess.length) : new Float64Array(hess.length), lr, mu: c.mu, version };
    cache.set(hess, hit);
  }
  const { eps } = hit;
  for (let k = 0; k < eps.length; k++) {
    const h = hess[k] > 0 ? hess[k] : 0;
    eps[k] = lr / (c.mu + h);
  }
  hit.lr = lr;
  hit.mu = c.mu;
  hit.version = version;
  return eps;
}
