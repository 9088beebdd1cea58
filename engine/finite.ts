/**
 * Finding parameters that are not finite numbers (NaN or +-Infinity): a
 * diverged run's weights, or a model file that holds them.
 *
 * @module
 */
import { PAPER_PREPROCESS } from "../data/preprocess.ts";
import type { Model } from "./model.ts";
import { Rng } from "./rng.ts";

/** Where the first non-finite parameter of a model sits. */
export interface NonFiniteParam {
  /** The layer's name, e.g. "c1". */
  readonly layer: string;
  /** The parameter's name within the layer, e.g. "weight". */
  readonly param: string;
  /** Index within that parameter tensor. */
  readonly index: number;
  /** The value found there: NaN, Infinity or -Infinity. */
  readonly value: number;
}

/**
 * The first parameter of `model` that is NaN or infinite, or null when all are finite.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "../mod.ts";
 * import { firstNonFinite } from "./finite.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
 * model.layers[0].params[0][7] = NaN;
 * const bad = firstNonFinite(model);
 * if (bad?.layer !== model.layers[0].name || bad.index !== 7) throw new Error("not found");
 * ```
 */
export function firstNonFinite(model: Model): NonFiniteParam | null {
  // A sum is finite only when every term is: one cheap pass over everything, the search only on failure.
  let sum = 0;
  const p = model.params;
  for (let i = 0; i < p.length; i++) sum += p[i] * 0;
  if (sum === 0) return null;
  for (const l of model.layers) {
    for (let k = 0; k < l.params.length; k++) {
      const v = l.params[k];
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) return { layer: l.name, param: l.specs[k].name, index: i, value: v[i] };
      }
    }
  }
  return null;
}

/** "parameter c1.weight[7] is NaN": the place, for messages. */
export function describeNonFinite(bad: NonFiniteParam): string {
  return `parameter ${bad.layer}.${bad.param}[${bad.index}] (layer "${bad.layer}", index ${bad.index}) is ${bad.value}`;
}

/** Where the first answer of a model that is NaN or infinite sits: which output, sample and class. */
export interface NonFiniteAnswer {
  /** Which output: the model's score (RBF distance, logit) or the class probability. */
  readonly output: "score" | "probability";
  /** The sample, 0 the first of the batch. */
  readonly sample: number;
  /** The class. */
  readonly class: number;
  /** The value found there: NaN, Infinity or -Infinity. */
  readonly value: number;
}

/**
 * The first score, then the first probability, that is NaN or infinite
 * among a batch's answers (`k` classes per sample, sample after sample), or
 * null when all are finite: a model that gives one cannot be trusted.
 */
export function firstNonFiniteAnswer(
  scores: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  k: number,
): NonFiniteAnswer | null {
  for (const [output, values] of [["score", scores], ["probability", probabilities]] as const) {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) return { output, sample: Math.floor(i / k), class: i % k, value: values[i] };
    }
  }
  return null;
}

/** Where the first non-finite output of a model on the probe inputs sits. */
export interface NonFiniteOutput {
  /** The probe input: "a blank image" or "pseudo-random input 1" (2, 3). */
  readonly input: string;
  /** Which output: the model's score (RBF distance, logit) or the class probability. */
  readonly output: "score" | "probability";
  /** The class. */
  readonly class: number;
  /** The value found there: NaN, Infinity or -Infinity. */
  readonly value: number;
}

/** Pseudo-random probe inputs beside the blank one. */
const RANDOM_PROBES = 3;

/**
 * Runs `model` on a few probe inputs, as preprocessed images are: a blank
 * image (every value the paper's background, -0.1) and three fixed
 * pseudo-random ones (uniform between the background and full ink, 1.175);
 * returns the first score or probability that is NaN or infinite, or null
 * when all are finite. Finite weights can still overflow (every weight 3e38
 * gives infinite scores): this finds a model that cannot answer.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "../mod.ts";
 * import { firstNonFiniteOutput } from "./finite.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
 * if (firstNonFiniteOutput(model) !== null) throw new Error("a fresh model answers");
 * model.params.fill(3e38);
 * if (firstNonFiniteOutput(model)?.input !== "a blank image") throw new Error("overflow not found");
 * ```
 */
export function firstNonFiniteOutput(model: Model): NonFiniteOutput | null {
  const { background, ink } = PAPER_PREPROCESS;
  const n = 1 + RANDOM_PROBES, size = model.inputSize, k = model.classes;
  const x = new Float32Array(n * size).fill(background);
  const rng = new Rng(0x5eed);
  for (let i = size; i < x.length; i++) x[i] = rng.uniform(background, ink);
  const scores = Float64Array.from(model.forward(x, n));
  const bad = firstNonFiniteAnswer(scores, model.probabilities(), k);
  if (!bad) return null;
  const input = bad.sample ? `pseudo-random input ${bad.sample}` : "a blank image";
  return { input, output: bad.output, class: bad.class, value: bad.value };
}

/** "its score for class 3 on a blank image is Infinity": the place, for messages. */
export function describeNonFiniteOutput(bad: NonFiniteOutput): string {
  return `its ${bad.output} for class ${bad.class} on ${bad.input} is ${bad.value}`;
}
