/**
 * Fast kernels for 5x5 convolutions with stride 1 and no padding (C1 and C3
 * of LeNet-5), over one connection list (see conv2d.ts for the layout).
 *
 * Every kernel walks one kernel row at a time along an output row and keeps a
 * sliding window of five values in local variables, so each step loads one
 * new value and does five multiply-adds. Sums run in double precision, in a
 * Float64Array scratch row where a result is written back, so a float32
 * model rounds each output once. The reference kernels in conv2d.ts are what
 * the tests compare these against.
 *
 * @module
 */
import type { Floats, Layer } from "../engine/types.ts";
import type { Conv2dConfig } from "./conv2d.ts";
import { scratch64 } from "./_scratch.ts";

/** The double-precision copies and rows the backward sums in. */
type F64 = Float64Array;

/**
 * y = bias + sum over connected pairs of the valid 5x5 correlation, for `n`
 * samples. Pairs are taken by input map, two output maps at a time, so one
 * window of x feeds both.
 */
export function conv5Forward(layer: Layer<Conv2dConfig>, input: Floats, y: Floats, n: number): void {
  const { maps, inputStart, byInput, outputOf } = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const [weight, bias] = layer.params;
  const ho = h - 4, wo = w - 4, hw = h * w, ohw = ho * wo;
  const acc = scratch64(0, (maps + 1) * ohw), x = scratch64(2, inMaps * hw);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < inMaps * hw; p++) x[p] = input[b * inMaps * hw + p];
    for (let o = 0; o < maps; o++) acc.fill(bias[o], o * ohw, (o + 1) * ohw);
    for (let i = 0; i < inMaps; i++) {
      const xi = i * hw;
      let q = inputStart[i];
      const end = inputStart[i + 1];
      for (; q < end; q += 2) {
        // An odd pair out is paired with itself, its twin summed into a spare row past the maps.
        const e = byInput[q], f = q + 1 < end ? byInput[q + 1] : e;
        const ao = outputOf[e] * ohw, bo = f === e ? maps * ohw : outputOf[f] * ohw;
        for (let ky = 0; ky < 5; ky++) {
          const k = e * 25 + ky * 5, l = f * 25 + ky * 5;
          const w0 = weight[k], w1 = weight[k + 1], w2 = weight[k + 2], w3 = weight[k + 3], w4 = weight[k + 4];
          const v0 = weight[l], v1 = weight[l + 1], v2 = weight[l + 2], v3 = weight[l + 3], v4 = weight[l + 4];
          for (let oy = 0; oy < ho; oy++) {
            const ar = ao + oy * wo, br = bo + oy * wo, xr = xi + (oy + ky) * w;
            let x0 = x[xr], x1 = x[xr + 1], x2 = x[xr + 2], x3 = x[xr + 3];
            for (let ox = 0; ox < wo; ox++) {
              const x4 = x[xr + ox + 4];
              acc[ar + ox] += w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3 + w4 * x4;
              acc[br + ox] += v0 * x0 + v1 * x1 + v2 * x2 + v3 * x3 + v4 * x4;
              x0 = x1;
              x1 = x2;
              x2 = x3;
              x3 = x4;
            }
          }
        }
      }
    }
    const yo = b * maps * ohw;
    for (let p = 0; p < maps * ohw; p++) y[yo + p] = acc[p];
  }
}

/**
 * Accumulates gw += d (x) x (the correlation of each input map with the
 * output map's d), gb += sum d, and, when `dx` is given, dx += the full
 * convolution of d with the weights.
 *
 * Backward passes x, the weights and dE/dy; the Gauss-Newton backward passes
 * x squared, the weights squared and d2E/dy2, which gives its sums exactly.
 * It goes by input map and sums each input map's dx in a double-precision row
 * before adding it to dx.
 */
export function conv5Backward(
  layer: Layer<Conv2dConfig>,
  input: Floats,
  weight: Floats,
  dy: Floats,
  dx: Floats | null,
  gw: Floats,
  gb: Floats,
  n: number,
): void {
  const { maps, inputStart, byInput, outputOf } = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const ho = h - 4, wo = w - 4, hw = h * w, ohw = ho * wo;
  const acc = scratch64(0, hw), x = scratch64(2, inMaps * hw), d = scratch64(3, maps * ohw);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < inMaps * hw; p++) x[p] = input[b * inMaps * hw + p];
    for (let p = 0; p < maps * ohw; p++) d[p] = dy[b * maps * ohw + p];
    for (let o = 0; o < maps; o++) {
      let sb = 0;
      for (let p = o * ohw; p < (o + 1) * ohw; p++) sb += d[p];
      gb[o] += sb;
    }
    for (let i = 0; i < inMaps; i++) {
      const xi = i * hw;
      acc.fill(0, 0, hw);
      for (let q = inputStart[i]; q < inputStart[i + 1]; q++) {
        const e = byInput[q], da = outputOf[e] * ohw;
        weightGrad(x, xi, w, d, da, gw, e * 25, ho, wo);
        if (dx !== null) inputGrad(acc, w, weight, e * 25, d, da, ho, wo);
      }
      const xo = (b * inMaps + i) * hw;
      if (dx !== null) { for (let p = 0; p < hw; p++) dx[xo + p] += acc[p]; }
    }
  }
}

/**
 * Weight gradient of one pair: gw[k + 5 ky + kx] += sum over outputs of
 * d[da + out] x[xi + out shifted by (ky, kx)]. One map at a time: five sums,
 * a window of five and the derivative fit in registers (two maps would not).
 */
function weightGrad(
  x: F64,
  xi: number,
  w: number,
  d: F64,
  da: number,
  gw: Floats,
  k: number,
  ho: number,
  wo: number,
): void {
  for (let ky = 0; ky < 5; ky++) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0;
    for (let oy = 0; oy < ho; oy++) {
      const ya = da + oy * wo, xr = xi + (oy + ky) * w;
      let x0 = x[xr], x1 = x[xr + 1], x2 = x[xr + 2], x3 = x[xr + 3];
      for (let ox = 0; ox < wo; ox++) {
        const g = d[ya + ox], x4 = x[xr + ox + 4];
        a0 += g * x0;
        a1 += g * x1;
        a2 += g * x2;
        a3 += g * x3;
        a4 += g * x4;
        x0 = x1;
        x1 = x2;
        x2 = x3;
        x3 = x4;
      }
    }
    const r = k + ky * 5;
    gw[r] += a0;
    gw[r + 1] += a1;
    gw[r + 2] += a2;
    gw[r + 3] += a3;
    gw[r + 4] += a4;
  }
}

/**
 * acc (one input map, row width w) += the full convolution of d at da with
 * the weights at k: acc[(oy + ky) w + j] += sum_kx weight[k + 5 ky + kx] d[da + oy wo + j - kx],
 * with d zero outside its row.
 */
function inputGrad(acc: F64, w: number, weight: Floats, k: number, d: F64, da: number, ho: number, wo: number): void {
  for (let ky = 0; ky < 5; ky++) {
    const r = k + ky * 5;
    const w0 = weight[r], w1 = weight[r + 1], w2 = weight[r + 2], w3 = weight[r + 3], w4 = weight[r + 4];
    for (let oy = 0; oy < ho; oy++) {
      const ya = da + oy * wo, ar = (oy + ky) * w;
      let d1 = 0, d2 = 0, d3 = 0, d4 = 0;
      for (let j = 0; j < wo; j++) {
        const d0 = d[ya + j];
        acc[ar + j] += w0 * d0 + w1 * d1 + w2 * d2 + w3 * d3 + w4 * d4;
        d4 = d3;
        d3 = d2;
        d2 = d1;
        d1 = d0;
      }
      acc[ar + wo] += w1 * d1 + w2 * d2 + w3 * d3 + w4 * d4;
      acc[ar + wo + 1] += w2 * d1 + w3 * d2 + w4 * d3;
      acc[ar + wo + 2] += w3 * d1 + w4 * d2;
      acc[ar + wo + 3] += w4 * d1;
    }
  }
}
