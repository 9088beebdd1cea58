/**
 * Dense kernels: y = W x + b for a batch of vectors, and its backward. They
 * serve the full layer and a convolution whose kernel covers its whole input
 * without a table (C5 of LeNet-5 is a 400 -> 120 dense layer).
 *
 * Loops are blocked by four rows of W (or four columns of x) so each loaded
 * value feeds four multiply-adds held in locals.
 *
 * @module
 */
import type { Floats } from "../engine/types.ts";

/** y[b, u] = bias[u] + sum_j W[u, j] x[b, j] for n samples of m inputs and `units` outputs. */
export function denseForward(x: Floats, W: Floats, bias: Floats, y: Floats, n: number, m: number, units: number): void {
  let b = 0;
  // Two samples at a time: each loaded weight feeds two sums.
  for (; b + 2 <= n; b += 2) {
    const xa = b * m, xb = xa + m, ya = b * units, yb = ya + units;
    let u = 0;
    for (; u + 4 <= units; u += 4) {
      const r0 = u * m, r1 = r0 + m, r2 = r1 + m, r3 = r2 + m;
      let s0 = bias[u], s1 = bias[u + 1], s2 = bias[u + 2], s3 = bias[u + 3];
      let t0 = s0, t1 = s1, t2 = s2, t3 = s3;
      for (let j = 0; j < m; j++) {
        const v = x[xa + j], z = x[xb + j];
        const w0 = W[r0 + j], w1 = W[r1 + j], w2 = W[r2 + j], w3 = W[r3 + j];
        s0 += w0 * v;
        s1 += w1 * v;
        s2 += w2 * v;
        s3 += w3 * v;
        t0 += w0 * z;
        t1 += w1 * z;
        t2 += w2 * z;
        t3 += w3 * z;
      }
      y[ya + u] = s0;
      y[ya + u + 1] = s1;
      y[ya + u + 2] = s2;
      y[ya + u + 3] = s3;
      y[yb + u] = t0;
      y[yb + u + 1] = t1;
      y[yb + u + 2] = t2;
      y[yb + u + 3] = t3;
    }
    for (; u < units; u++) {
      const r = u * m;
      let s = bias[u], t = s;
      for (let j = 0; j < m; j++) {
        s += W[r + j] * x[xa + j];
        t += W[r + j] * x[xb + j];
      }
      y[ya + u] = s;
      y[yb + u] = t;
    }
  }
  for (; b < n; b++) {
    const xb = b * m, yb = b * units;
    let u = 0;
    for (; u + 4 <= units; u += 4) {
      const r0 = u * m, r1 = r0 + m, r2 = r1 + m, r3 = r2 + m;
      let s0 = bias[u], s1 = bias[u + 1], s2 = bias[u + 2], s3 = bias[u + 3];
      for (let j = 0; j < m; j++) {
        const v = x[xb + j];
        s0 += W[r0 + j] * v;
        s1 += W[r1 + j] * v;
        s2 += W[r2 + j] * v;
        s3 += W[r3 + j] * v;
      }
      y[yb + u] = s0;
      y[yb + u + 1] = s1;
      y[yb + u + 2] = s2;
      y[yb + u + 3] = s3;
    }
    for (; u < units; u++) {
      const r = u * m;
      let s = bias[u];
      for (let j = 0; j < m; j++) s += W[r + j] * x[xb + j];
      y[yb + u] = s;
    }
  }
}

/**
 * Accumulates gW[u, j] += sum_b d[b, u] x[b, j], gb[u] += sum_b d[b, u] and,
 * when `dx` is given, dx[b, j] += sum_u d[b, u] W[u, j].
 *
 * Backward passes x, W and dE/dy; the Gauss-Newton backward passes x squared,
 * W squared and d2E/dy2.
 */
export function denseBackward(
  x: Floats,
  W: Floats,
  d: Floats,
  dx: Floats | null,
  gW: Floats,
  gb: Floats,
  n: number,
  m: number,
  units: number,
): void {
  for (let u = 0; u < units; u++) {
    let s = 0;
    for (let b = 0; b < n; b++) s += d[b * units + u];
    gb[u] += s;
  }
  if (n === 1) return outer1(x, W, d, dx, gW, m, units);
  // gW by blocks of two units and four inputs: each step over the batch loads 6 values for 8 multiply-adds.
  // An odd unit out is computed twice and written once.
  for (let u = 0; u < units; u += 2) {
    const v = u + 1 < units ? u + 1 : u, r = u * m, q = v * m;
    let j = 0;
    for (; j + 4 <= m; j += 4) {
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let b = 0; b < n; b++) {
        const g = d[b * units + u], h = d[b * units + v], xb = b * m + j;
        const x0 = x[xb], x1 = x[xb + 1], x2 = x[xb + 2], x3 = x[xb + 3];
        a0 += g * x0;
        a1 += g * x1;
        a2 += g * x2;
        a3 += g * x3;
        c0 += h * x0;
        c1 += h * x1;
        c2 += h * x2;
        c3 += h * x3;
      }
      gW[r + j] += a0;
      gW[r + j + 1] += a1;
      gW[r + j + 2] += a2;
      gW[r + j + 3] += a3;
      if (v === u) continue;
      gW[q + j] += c0;
      gW[q + j + 1] += c1;
      gW[q + j + 2] += c2;
      gW[q + j + 3] += c3;
    }
    for (; j < m; j++) {
      let a = 0, c = 0;
      for (let b = 0; b < n; b++) {
        a += d[b * units + u] * x[b * m + j];
        c += d[b * units + v] * x[b * m + j];
      }
      gW[r + j] += a;
      if (v !== u) gW[q + j] += c;
    }
  }
  if (dx === null) return;
  // dx by pairs of samples and blocks of four units: each loaded weight feeds two sums. An odd sample out
  // pairs with itself, its twin's derivatives taken as zero.
  for (let b = 0; b < n; b += 2) {
    const twin = b + 1 === n, xa = b * m, xb = twin ? xa : xa + m, ya = b * units, yb = twin ? ya : ya + units;
    const z = twin ? 0 : 1;
    let u = 0;
    for (; u + 4 <= units; u += 4) {
      const r0 = u * m, r1 = r0 + m, r2 = r1 + m, r3 = r2 + m;
      const g0 = d[ya + u], g1 = d[ya + u + 1], g2 = d[ya + u + 2], g3 = d[ya + u + 3];
      const h0 = z * d[yb + u], h1 = z * d[yb + u + 1], h2 = z * d[yb + u + 2], h3 = z * d[yb + u + 3];
      for (let j = 0; j < m; j++) {
        const w0 = W[r0 + j], w1 = W[r1 + j], w2 = W[r2 + j], w3 = W[r3 + j];
        dx[xa + j] += g0 * w0 + g1 * w1 + g2 * w2 + g3 * w3;
        dx[xb + j] += h0 * w0 + h1 * w1 + h2 * w2 + h3 * w3;
      }
    }
    for (; u < units; u++) {
      const r = u * m, g = d[ya + u], h = z * d[yb + u];
      for (let j = 0; j < m; j++) {
        dx[xa + j] += g * W[r + j];
        dx[xb + j] += h * W[r + j];
      }
    }
  }
}

/** One sample: gW += d x^T and dx += W^T d in one sweep over W, four rows at a time. */
function outer1(x: Floats, W: Floats, d: Floats, dx: Floats | null, gW: Floats, m: number, units: number): void {
  let u = 0;
  for (; u + 4 <= units; u += 4) {
    const r0 = u * m, r1 = r0 + m, r2 = r1 + m, r3 = r2 + m;
    const g0 = d[u], g1 = d[u + 1], g2 = d[u + 2], g3 = d[u + 3];
    for (let j = 0; j < m; j++) {
      const v = x[j];
      gW[r0 + j] += g0 * v;
      gW[r1 + j] += g1 * v;
      gW[r2 + j] += g2 * v;
      gW[r3 + j] += g3 * v;
    }
    if (dx !== null) {
      for (let j = 0; j < m; j++) dx[j] += g0 * W[r0 + j] + g1 * W[r1 + j] + g2 * W[r2 + j] + g3 * W[r3 + j];
    }
  }
  for (; u < units; u++) {
    const r = u * m, g = d[u];
    for (let j = 0; j < m; j++) gW[r + j] += g * x[j];
    if (dx !== null) { for (let j = 0; j < m; j++) dx[j] += g * W[r + j]; }
  }
}
