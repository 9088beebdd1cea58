/**
 * Scratch buffers the fast kernels reuse between calls, so a training loop
 * allocates nothing once its buffers have grown. Each slot is one buffer per
 * element type; a caller must not hold a slot across a call that uses it.
 *
 * @module
 */
import type { Floats } from "../engine/types.ts";

const f64: Float64Array[] = [];
const sq32: Float32Array[] = [];
const sq64: Float64Array[] = [];

/** A Float64Array of at least `size` values for `slot` (contents undefined). */
export function scratch64(slot: number, size: number): Float64Array {
  let a = f64[slot];
  if (a === undefined || a.length < size) a = f64[slot] = new Float64Array(size);
  return a;
}

/**
 * The squares of the first `size` values of `a`, in a scratch buffer of a's
 * element type (what the Gauss-Newton passes feed the backward kernels).
 */
export function squares(a: Floats, slot: number, size = a.length): Floats {
  let out: Floats;
  if (a instanceof Float32Array) {
    out = sq32[slot];
    if (out === undefined || out.length < size) out = sq32[slot] = new Float32Array(size);
  } else {
    out = sq64[slot];
    if (out === undefined || out.length < size) out = sq64[slot] = new Float64Array(size);
  }
  for (let i = 0; i < size; i++) out[i] = a[i] * a[i];
  return out;
}
