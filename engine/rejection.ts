/**
 * Rejection (the paper's Fig. 10): how many test patterns a classifier must
 * turn away, least sure first, for the error on the rest to fall to a target
 * (0.5% in the paper). How sure it is of a pattern: the gap between its two
 * highest scores, here the two most probable classes.
 *
 * @module
 */

/**
 * The gap between the two largest of each row's `k` values (`n` rows).
 *
 * @example
 * ```ts
 * import { topTwoGaps } from "./rejection.ts";
 * const gaps = topTwoGaps([0.7, 0.2, 0.1, 0.4, 0.5, 0.1], 2, 3);
 * if (Math.abs(gaps[0] - 0.5) > 1e-12 || Math.abs(gaps[1] - 0.1) > 1e-12) throw new Error("bad gaps");
 * ```
 */
export function topTwoGaps(values: ArrayLike<number>, n: number, k: number): Float64Array {
  if (k < 2 || values.length < n * k) {
    throw new RangeError(`Cannot take the top two of ${n} rows of ${k} values from ${values.length} values`);
  }
  const gaps = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    let first = -Infinity, second = -Infinity;
    for (let i = p * k; i < (p + 1) * k; i++) {
      const v = values[i];
      if (v > first) [first, second] = [v, first];
      else if (v > second) second = v;
    }
    gaps[p] = first - second;
  }
  return gaps;
}

/**
 * The smallest share of patterns (0..1) to reject, smallest gap first (the earlier pattern first between equal gaps),
 * for the error on the patterns kept to be at most `target`; `correct[p]` says whether pattern p was classified right.
 *
 * @example
 * ```ts
 * import { rejectionFor } from "./rejection.ts";
 * // The one mistake is the least sure of four: rejecting it (a quarter) leaves no error.
 * if (rejectionFor([0.1, 0.9, 0.5, 0.7], [false, true, true, true], 0) !== 0.25) throw new Error("bad");
 * ```
 */
export function rejectionFor(gaps: ArrayLike<number>, correct: ArrayLike<boolean>, target: number): number {
  const n = gaps.length;
  if (correct.length !== n) throw new RangeError(`Cannot compare ${n} gaps with ${correct.length} answers`);
  const order = Array.from({ length: n }, (_, p) => p).sort((a, b) => gaps[a] - gaps[b] || a - b);
  let wrong = 0;
  for (let p = 0; p < n; p++) if (!correct[p]) wrong++;
  for (let r = 0; r < n; r++) {
    if (wrong <= target * (n - r)) return r / n;
    if (!correct[order[r]]) wrong--;
  }
  return 1;
}
