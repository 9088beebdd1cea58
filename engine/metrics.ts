/**
 * Classification metrics: confusion matrix, per-class precision, recall and
 * F1, macro F1.
 *
 * @module
 */

/** Metrics of predictions against labels. */
export interface Metrics {
  /** Predictions compared. */
  readonly count: number;
  /** Fraction of them wrong (0..1; 0 when there are none). */
  readonly error: number;
  /** confusion[true][predicted]. */
  readonly confusion: number[][];
  /** Precision, recall and F1 (0..1) and support (patterns labelled so) of each class, by class. */
  readonly perClass: {
    readonly precision: number;
    readonly recall: number;
    readonly f1: number;
    readonly support: number;
  }[];
  /** Mean of the per-class F1 scores (0..1). */
  readonly macroF1: number;
}

/**
 * Computes the metrics of `predictions` against `labels` for `classes` classes.
 *
 * @example
 * ```ts
 * import { classificationMetrics } from "./metrics.ts";
 * const m = classificationMetrics([0, 1, 1], [0, 1, 0], 2);
 * if (m.confusion[0][1] !== 1 || Math.abs(m.error - 1 / 3) > 1e-12) throw new Error("bad");
 * ```
 */
export function classificationMetrics(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: number,
): Metrics {
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let wrong = 0;
  for (let i = 0; i < labels.length; i++) {
    confusion[labels[i]][predictions[i]]++;
    if (labels[i] !== predictions[i]) wrong++;
  }
  const perClass = confusion.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((a, r) => a + r[c], 0);
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { precision, recall, f1, support };
  });
  const macroF1 = perClass.reduce((a, p) => a + p.f1, 0) / classes;
  return { count: labels.length, error: labels.length ? wrong / labels.length : 0, confusion, perClass, macroF1 };
}

/** The metrics as a text report: per-class table, macro F1 and the confusion matrix. */
export function formatMetrics(m: Metrics): string {
  const pct = (v: number) => (100 * v).toFixed(2).padStart(6),
    pad = (v: number, width = 5) => String(v).padStart(width);
  const error = (100 * m.error).toFixed(2), wrong = Math.round(m.error * m.count), f1 = m.macroF1.toFixed(4);
  const lines = [
    `test error ${error}% (${wrong} of ${m.count}), macro F1 ${f1}`,
    "",
    "class  precision  recall      F1  support",
    ...m.perClass.map((p, c) =>
      `${pad(c)}  ${pct(p.precision)}%  ${pct(p.recall)}%  ${p.f1.toFixed(4)}  ${pad(p.support, 7)}`
    ),
    "",
    "confusion matrix (rows: true class, columns: predicted)",
    "      " + m.confusion.map((_, c) => pad(c)).join(""),
    ...m.confusion.map((row, c) => `${pad(c)} ` + row.map((v) => pad(v)).join("")),
  ];
  return lines.join("\n");
}
