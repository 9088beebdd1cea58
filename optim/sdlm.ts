/**
 * sdlm: stochastic diagonal Levenberg-Marquardt (appendix C, section III-B).
 * Each parameter k gets its own step eps_k = eta / (mu + h_kk), h_kk the
 * diagonal Gauss-Newton second derivative averaged over a sample of training
 * patterns, which the rule re-estimates before each pass:
 *
 *   w_k <- w_k - eta / (mu + h_kk) * dE/dw_k
 *
 * Config: `lr` (eta; the paper schedules it, 0.0005 in pass 1), `mu` (0.02),
 * and how h_kk is estimated: `curvatureSamples` (500 patterns before each
 * pass), `curvatureMemory` (fraction of the last pass's h_kk kept, 0),
 * `curvatureRate` and `curvatureEvery` (a running update during the pass,
 * none), `curvatureLoss` (the loss whose curvature is taken, the model's own).
 * Negative h estimates (possible with a non-Gauss-Newton term) count as 0.
 *
 * @module
 */
import { ConfigReader, fieldError, FRACTION, integerRule, numberRule, show } from "../engine/config.ts";
import type {
  CurvatureLoss,
  Floats,
  OptimizerOption,
  OptimizerPlugin,
  PassNotes,
  VectorKernels,
} from "../engine/types.ts";

/** SDLM's mu when a config gives none: the paper's 0.02. */
export const DEFAULT_SDLM_MU = 0.02;

/** How SDLM estimates h_kk. */
export interface SdlmCurvature {
  /** Patterns h_kk is estimated on before each pass (the paper's 500). */
  readonly samples: number;
  /**
   * Fraction m of the last pass's h_kk kept at each re-estimate: h = m h_last + (1 - m) h_new. 0: a fresh estimate
   * every pass (the paper's rule); 1: pass 1's estimate throughout. The kept h_kk is the state `curvature`, so a
   * resumed run sees it.
   */
  readonly memory: number;
  /**
   * Rate g of a running update during the pass (appendix C's rule): every `every` updates, h = (1 - g) h + g (h_kk of
   * the batch just trained on). 0: h_kk held for the pass, as in the paper's experiments.
   */
  readonly rate: number;
  /** Updates between two running updates. */
  readonly every: number;
  /** The loss whose curvature is taken (e.g. the MSE criterion under a MAP loss); absent: the model's own. */
  readonly loss?: CurvatureLoss & { readonly type: string };
}

/** Config of sdlm. */
export interface SdlmConfig {
  /** Global learning rate eta, > 0 (default 0.0005, the paper's first pass). */
  readonly lr: number;
  /** Added to each h_kk, bounding the step where the curvature is small; > 0 (default {@linkcode DEFAULT_SDLM_MU}). */
  readonly mu: number;
  /** How h_kk is estimated. */
  readonly curvature: SdlmCurvature;
}

/** The run settings SDLM owns: its curvature estimate, each with its flag of `deno task train`. */
export const SDLM_OPTIONS: readonly OptimizerOption[] = [
  {
    key: "curvatureSamples",
    flag: "curvature-samples",
    arg: "N",
    help: "patterns h_kk is estimated on before each pass (SDLM; default 500)",
    rule: integerRule(1),
    fallback: 500,
    always: true,
  },
  {
    key: "curvatureMemory",
    flag: "curvature-memory",
    arg: "M",
    help: "fraction of the last pass's h_kk kept at each re-estimate: h = M h_last + (1 - M) h_new " +
      "(SDLM; lenet5 0.9; 0 = a fresh estimate each pass, the paper's rule)",
    rule: FRACTION,
    fallback: 0,
  },
  {
    key: "curvatureRate",
    flag: "curvature-rate",
    arg: "G",
    help: "update h_kk during the pass too, as a running average over the patterns trained on " +
      "(appendix C's rule): h = (1 - G) h + G h_batch (SDLM; default 0: held for the pass)",
    rule: FRACTION,
    fallback: 0,
  },
  {
    key: "curvatureEvery",
    flag: "curvature-every",
    arg: "M",
    help: "updates between two running h_kk updates (SDLM; default 10)",
    rule: integerRule(1),
    fallback: 10,
  },
  {
    key: "curvatureLoss",
    flag: "curvature-loss",
    arg: "TYPE",
    help: "estimate h_kk from this loss's curvature while the model's loss gives the gradients " +
      "(SDLM; e.g. mse-rbf, the paper's MSE criterion under the MAP loss)",
    rule: "loss",
  },
];

/** Per-parameter step sizes eta / (mu + max(h, 0)) in float32. */
export function sdlmStepSizes(c: Pick<SdlmConfig, "mu">, lr: number, hess: ArrayLike<number>): Float32Array {
  const out = new Float32Array(hess.length);
  for (let k = 0; k < out.length; k++) out[k] = lr / (c.mu + Math.max(hess[k], 0));
  return out;
}

/** SDLM's work: the step sizes for one eta and h_kk, and the running h_kk of the pass. */
interface SdlmWork {
  /** eta / (mu + max(h_kk, 0)) per parameter, in double precision, where the backend's vector kernels reach it. */
  steps?: Float64Array;
  /** The eta `steps` hold. */
  lr?: number;
  /** The running h_kk of the pass (`curvatureRate` > 0), in double precision. */
  running?: Float64Array;
}

/**
 * Writes eta / (mu + max(h_kk, 0)) for every parameter into the work's step sizes: the paper's steps change only with
 * h_kk and eta, so a step needs no division per parameter. Doubles, so a step is bit-identical to dividing there.
 */
function computeSteps(work: SdlmWork, mu: number, lr: number, hess: Floats, vectors?: VectorKernels): Float64Array {
  if (!work.steps || work.steps.length !== hess.length) {
    work.steps = vectors ? vectors.doubles(hess.length) : new Float64Array(hess.length);
  }
  const eps = work.steps;
  for (let k = 0; k < eps.length; k++) {
    const h = hess[k] > 0 ? hess[k] : 0;
    eps[k] = lr / (mu + h);
  }
  work.lr = lr;
  return eps;
}

/** The smallest and largest step, as float32 values. */
function stepRange(eps: Float64Array): PassNotes["stepRange"] {
  let lo = Infinity, hi = 0;
  for (let k = 0; k < eps.length; k++) {
    lo = Math.min(lo, eps[k]);
    hi = Math.max(hi, eps[k]);
  }
  return [Math.fround(lo), Math.fround(hi)];
}

/** The `sdlm` optimizer: per-parameter steps eta / (mu + h_kk), h_kk re-estimated before each pass. */
export const sdlm: OptimizerPlugin<SdlmConfig> = {
  type: "sdlm",
  description: "stochastic diagonal Levenberg-Marquardt: step eta/(mu + h_kk) per parameter",
  needsCurvature: true,
  options: SDLM_OPTIONS,
  stateRules: { curvature: numberRule("a number >= 0 (SDLM's kept h_kk)", (v) => v >= 0) },
  configure(raw, where, context) {
    const r = new ConfigReader(raw, where, ["type"]);
    const [samples, memory, rate, every] = SDLM_OPTIONS.flatMap((o) =>
      o.rule === "loss" ? [] : [r.rule<number>(o.key, o.rule, o.fallback)]
    );
    const type = r.raw("curvatureLoss");
    let loss: SdlmCurvature["loss"];
    if (type !== undefined) {
      if (typeof type !== "string" || !context) {
        fieldError(where, "curvatureLoss", `must be a registered loss type, got ${show(type)}`);
      }
      const plugin = context.losses.get(type);
      const config = plugin.configure({ type }, context.scores, { label: `the curvature loss (${type})` });
      loss = { type, plugin, config };
    }
    const c = {
      lr: r.number("lr", { min: 0, exclusiveMin: true, fallback: 0.0005 }),
      mu: r.number("mu", { min: 0, exclusiveMin: true, fallback: DEFAULT_SDLM_MU }),
      curvature: { samples, memory, rate, every, ...(loss ? { loss } : {}) },
    };
    r.done();
    return c;
  },
  learningRate: (c) => c.lr,
  createState: () => ({}),
  describe(c) {
    const h = c.curvature;
    const kept = h.memory ? `, ${h.memory} of the last pass's h_kk kept` : "";
    const running = h.rate ? `, running h_kk update every ${h.every} updates at rate ${h.rate}` : "";
    const from = h.loss ? `, h_kk from the ${h.loss.type} loss's curvature` : "";
    return {
      name: `sdlm (mu ${c.mu})`,
      recipe: `, h_kk from ${h.samples} patterns before each pass${kept}${running}${from}`,
      rows: [
        ["SDLM mu", String(c.mu)],
        ["SDLM curvature samples (before each pass)", String(h.samples)],
        ["SDLM curvature memory (of the last pass's h_kk)", String(h.memory)],
        [
          "SDLM running curvature update",
          h.rate ? `rate ${h.rate} every ${h.every} updates` : "none (h_kk held for the pass)",
        ],
        ["SDLM curvature from the loss", h.loss?.type ?? "the model's own"],
      ],
    };
  },
  beforePass(c, state, { lr, hess, vectors, work, estimateOnSample }) {
    const { memory, samples, rate, loss } = c.curvature;
    const last = memory > 0 ? state.curvature : undefined;
    if (last !== undefined && (typeof last === "number" || last.length !== hess.length)) {
      throw new TypeError(`Optimizer state "curvature" must hold ${hess.length} floats (the kept h_kk)`);
    }
    if (last && memory === 1) {
      hess.set(last);
    } else {
      estimateOnSample(samples, loss);
      if (last) { for (let i = 0; i < hess.length; i++) hess[i] = memory * last[i] + (1 - memory) * hess[i]; }
    }
    if (memory > 0) state.curvature = Float32Array.from(hess);
    const w = work as SdlmWork;
    w.running = rate > 0 ? Float64Array.from(hess) : undefined;
    return { stepRange: stepRange(computeSteps(w, c.mu, lr, hess, vectors)) };
  },
  afterStep(c, _state, { step, lr, hess, vectors, work, estimateOnBatch }) {
    const { rate, every, loss } = c.curvature, running = (work as SdlmWork).running;
    if (!running || step % every !== 0) return;
    const h = estimateOnBatch(loss);
    for (let k = 0; k < h.length; k++) h[k] = running[k] = (1 - rate) * running[k] + rate * h[k];
    computeSteps(work as SdlmWork, c.mu, lr, hess, vectors);
  },
  afterPass(_c, state, { hess, work }) {
    // What the next pass's re-estimate blends with is where the running estimate ended.
    if ((work as SdlmWork).running && typeof state.curvature === "object") state.curvature = Float32Array.from(hess);
  },
  step(c, _state, { params, grads, hess, lr, vectors, work }) {
    if (hess === null) throw new Error("Cannot take an sdlm step: no curvature estimate (run estimateCurvature first)");
    const w = work as SdlmWork;
    const eps = w.steps && w.lr === lr ? w.steps : computeSteps(w, c.mu, lr, hess, vectors);
    if (vectors?.scaledStep(params, eps, grads)) return;
    for (let k = 0; k < params.length; k++) params[k] -= eps[k] * grads[k];
  },
};
