/**
 * Stable softmax over one sample's scores, with an optional extra logit (the
 * MAP criterion's "rubbish" class).
 *
 * @module
 */
import type { Floats } from "../engine/types.ts";

/**
 * Writes p_i = exp(sign * s_i) / (exp(extra) + sum_k exp(sign * s_k)) for the
 * sample starting at `off`, into `out` at `outOff`, and returns the log of the
 * denominator. `extra` = -Infinity leaves the extra logit out.
 */
export function softmax(
  scores: Floats,
  off: number,
  k: number,
  sign: number,
  extra: number,
  out: Floats,
  outOff: number,
): number {
  let m = extra;
  for (let i = 0; i < k; i++) m = Math.max(m, sign * scores[off + i]);
  let sum = extra === -Infinity ? 0 : Math.exp(extra - m);
  for (let i = 0; i < k; i++) {
    const e = Math.exp(sign * scores[off + i] - m);
    out[outOff + i] = e;
    sum += e;
  }
  for (let i = 0; i < k; i++) out[outOff + i] /= sum;
  return m + Math.log(sum);
}
