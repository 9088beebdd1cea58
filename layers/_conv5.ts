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

/** y = bias + sum over connected pairs of the valid 5x5 correlation, for `n` samples. */
export function conv5Forward(layer: Layer<Conv2dConfig>, x: Floats, y: Floats, n: number): void {
  const { maps, start, inputs } = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const [weight, bias] = layer.params;
  const ho = h - 4, wo = w - 4, hw = h * w, ohw = ho * wo;
  const acc = scratch64(0, ohw);
  for (let b = 0; b < n; b++) {
    const xb = b * inMaps * hw;
    for (let o = 0; o < maps; o++) {
      acc.fill(bias[o], 0, ohw);
      for (let e = start[o]; e < start[o + 1]; e++) {
        const xi = xb + inputs[e] * hw;
        for (let ky = 0; ky < 5; ky++) {
          const k = e * 25 + ky * 5;
          const w0 = weight[k], w1 = weight[k + 1], w2 = weight[k + 2], w3 = weight[k + 3], w4 = weight[k + 4];
          for (let oy = 0; oy < ho; oy++) {
            const ar = oy * wo, xr = xi + (oy + ky) * w;
            let x0 = x[xr], x1 = x[xr + 1], x2 = x[xr + 2], x3 = x[xr + 3];
            for (let ox = 0; ox < wo; ox++) {
              const x4 = x[xr + ox + 4];
              acc[ar + ox] += w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3 + w4 * x4;
              x0 = x1;
              x1 = x2;
              x2 = x3;
              x3 = x4;
            }
          }
        }
      }
      const yo = (b * maps + o) * ohw;
      for (let p = 0; p < ohw; p++) y[yo + p] = acc[p];
    }
  }
}

/**
 * Accumulates gw += d (x) x (the correlation of each input map with the
 * output map's d), gb += sum d, and, when `dx` is given, dx += the full
 * convolution of d with the weights.
 *
 * Backward passes x, the weights and dE/dy; the Gauss-Newton backward passes
 * x squared, the weights squared and d2E/dy2, which gives its sums exactly.
 */
export function conv5Backward(
  layer: Layer<Conv2dConfig>,
  x: Floats,
  weight: Floats,
  d: Floats,
  dx: Floats | null,
  gw: Floats,
  gb: Floats,
  n: number,
): void {
  const { maps, start, inputs } = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const ho = h - 4, wo = w - 4, hw = h * w, ohw = ho * wo;
  for (let b = 0; b < n; b++) {
    const xb = b * inMaps * hw;
    for (let o = 0; o < maps; o++) {
      const yo = (b * maps + o) * ohw;
      let sb = 0;
      for (let p = 0; p < ohw; p++) sb += d[yo + p];
      gb[o] += sb;
      for (let e = start[o]; e < start[o + 1]; e++) {
        const xi = xb + inputs[e] * hw;
        for (let ky = 0; ky < 5; ky++) {
          const k = e * 25 + ky * 5;
          // Weight gradient of kernel row ky: five sums along the window.
          let a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0;
          for (let oy = 0; oy < ho; oy++) {
            const yr = yo + oy * wo, xr = xi + (oy + ky) * w;
            let x0 = x[xr], x1 = x[xr + 1], x2 = x[xr + 2], x3 = x[xr + 3];
            for (let ox = 0; ox < wo; ox++) {
              const g = d[yr + ox], x4 = x[xr + ox + 4];
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
          gw[k] += a0;
          gw[k + 1] += a1;
          gw[k + 2] += a2;
          gw[k + 3] += a3;
          gw[k + 4] += a4;
          if (dx === null) continue;
          // Input gradient of kernel row ky: dx[j] += sum_kx w[kx] d[j - kx], with d zero outside the row.
          const w0 = weight[k], w1 = weight[k + 1], w2 = weight[k + 2], w3 = weight[k + 3], w4 = weight[k + 4];
          for (let oy = 0; oy < ho; oy++) {
            const yr = yo + oy * wo, xr = xi + (oy + ky) * w;
            let d1 = 0, d2 = 0, d3 = 0, d4 = 0;
            for (let j = 0; j < wo; j++) {
              const d0 = d[yr + j];
              dx[xr + j] += w0 * d0 + w1 * d1 + w2 * d2 + w3 * d3 + w4 * d4;
              d4 = d3;
              d3 = d2;
              d2 = d1;
              d1 = d0;
            }
            dx[xr + wo] += w1 * d1 + w2 * d2 + w3 * d3 + w4 * d4;
            dx[xr + wo + 1] += w2 * d1 + w3 * d2 + w4 * d3;
            dx[xr + wo + 2] += w3 * d1 + w4 * d2;
            dx[xr + wo + 3] += w4 * d1;
          }
        }
      }
    }
  }
}
