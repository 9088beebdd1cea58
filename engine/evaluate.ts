/**
 * Classification error, loss and predictions of a model on a data set.
 *
 * @module
 */
import { type DataSource, imageSource, isSplit } from "../data/source.ts";
import type { Split } from "../data/split.ts";
import { firstNonFiniteAnswer } from "./finite.ts";
import { argmaxRows, type Model } from "./model.ts";

/** What an evaluation's error says when the model answers with a number that is not finite (fit() looks for it). */
export const NON_FINITE_ANSWER = "a model must answer with finite numbers";

/** What `evaluate` measured. */
export interface Evaluation {
  /** Fraction misclassified (0..1). */
  readonly error: number;
  /** Patterns misclassified. */
  readonly wrong: number;
  /** Mean loss. */
  readonly loss: number;
  /** Predicted class of each pattern evaluated. */
  readonly predictions: Int32Array;
  /** Patterns evaluated. */
  readonly count: number;
}

/** Something that scores a batch as the model would: the model itself, or a trainer sharing it among threads. */
export interface Scorer {
  /** Scores of the `n` patterns in `x`. */
  forward(x: Float32Array, n: number): Float32Array | Float64Array;
  /** The largest batch it takes. */
  readonly capacity?: number;
}

/**
 * Classification error and predictions of `model` on a split or a data
 * source: patterns [from, limit), by default all of them.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "../mod.ts";
 * import { loadMnist } from "../data/mnist.ts";
 * import { evaluate } from "./evaluate.ts";
 * const { test } = await loadMnist();
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
 * const { error } = evaluate(model, test, { limit: 200 });
 * if (!(error > 0.5)) throw new Error("an untrained model is near chance");
 * ```
 */
export function evaluate(
  model: Model,
  data: Split | DataSource,
  options: { from?: number; limit?: number; batch?: number; parallel?: Scorer } = {},
): Evaluation {
  const source = isSplit(data) ? imageSource(data) : data;
  source.check(model, "data");
  const from = options.from ?? 0;
  const count = Math.max(0, Math.min(options.limit ?? source.count, source.count) - from);
  const batch = Math.min(options.batch ?? 100, options.parallel?.capacity ?? Infinity);
  const k = model.classes, { plugin, config } = model.loss;
  const x = new Float32Array(batch * model.inputSize), labels = new Uint8Array(batch), idx = new Int32Array(batch);
  const predictions = new Int32Array(count), probs = new Float32Array(batch * k);
  let wrong = 0, loss = 0;
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    for (let i = 0; i < n; i++) idx[i] = from + s + i;
    source.read(idx.subarray(0, n), x.subarray(0, n * model.inputSize), labels.subarray(0, n));
    const scores = options.parallel ? options.parallel.forward(x, n) : model.forward(x, n);
    loss += plugin.forward(config, scores, labels, n, k);
    plugin.probabilities(config, scores, n, k, probs);
    const bad = firstNonFiniteAnswer(scores.subarray(0, n * k), probs.subarray(0, n * k), k);
    if (bad) {
      throw new RangeError(
        `Cannot evaluate the model: its ${bad.output} for class ${bad.class} of image ${from + s + bad.sample}${
          source.source ? ` of "${source.source}"` : ""
        } is ${bad.value}; ${NON_FINITE_ANSWER} (are its weights too large?)`,
      );
    }
    argmaxRows(probs, n, k, predictions.subarray(s, s + n));
    for (let i = 0; i < n; i++) if (predictions[s + i] !== labels[i]) wrong++;
  }
  return { error: wrong / count, wrong, loss: loss / count, predictions, count };
}
