/**
 * maxpool: maximum of each size x size window, no parameters. The backward
 * passes find the maximum again (the first one on ties), so the layer keeps no
 * state between passes.
 *
 * Config: `size` (2), `stride` (default: size).
 *
 * @module
 */
import type { Floats, LayerPlugin } from "../engine/types.ts";
import { plainPool, poolAttributes, type PoolConfig } from "./_pool.ts";

let argmax = new Int32Array(0);

/**
 * The index in x of the maximum of every window (the first one on ties), in
 * output order, in a scratch array valid until the next call. Branch-free:
 * a comparison becomes 0 or 1, so random data costs no mispredicted jumps.
 */
function windowMax(c: PoolConfig, inShape: readonly number[], outShape: readonly number[], x: Floats, n: number) {
  const { size, stride } = c;
  const [maps, h, w] = inShape;
  const [, ho, wo] = outShape;
  if (argmax.length < n * maps * ho * wo) argmax = new Int32Array(n * maps * ho * wo);
  const out = argmax;
  if (size === 2 && stride === 2) {
    windowMax2(x, out, n * maps, h, w, ho, wo);
    return out;
  }
  for (let bm = 0; bm < n * maps; bm++) {
    const xi = bm * h * w, yo = bm * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let best = xi + oy * stride * w + ox * stride;
        for (let ky = 0; ky < size; ky++) {
          const row = xi + (oy * stride + ky) * w + ox * stride;
          for (let kx = 0; kx < size; kx++) best += +(x[row + kx] > x[best]) * (row + kx - best);
        }
        out[yo + oy * wo + ox] = best;
      }
    }
  }
  return out;
}

/**
 * windowMax for 2x2 windows with stride 2: a tree of three comparisons (top
 * pair, bottom pair, then the two winners), each a 0/1 number, so the first
 * maximum wins ties as in the plain scan; c v + (1 - c) u picks a value exactly.
 */
function windowMax2(x: Floats, out: Int32Array, planes: number, h: number, w: number, ho: number, wo: number): void {
  for (let bm = 0; bm < planes; bm++) {
    const xi = bm * h * w, yo = bm * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      const r = xi + 2 * oy * w, o = yo + oy * wo;
      for (let ox = 0; ox < wo; ox++) {
        const i = r + 2 * ox, a = x[i], b = x[i + 1], c = x[i + w], d = x[i + w + 1];
        const top = +(b > a), bottom = +(d > c);
        const u = top * b + (1 - top) * a, v = bottom * d + (1 - bottom) * c;
        const lower = +(v > u);
        out[o + ox] = i + top + lower * (w + bottom - top);
      }
    }
  }
}

/** The `maxpool` layer: the maximum of each window, no parameters. Config: `size`, `stride`. */
export const maxpool: LayerPlugin<PoolConfig> = {
  type: "maxpool",
  description: "maximum of each window, no parameters",
  ...plainPool,

  forward(layer, x, y, n) {
    const at = windowMax(layer.config, layer.inShape, layer.outShape, x, n);
    for (let o = 0; o < n * layer.outSize; o++) y[o] = x[at[o]];
  },

  backward(layer, x, _y, dy, dx, _grads, n) {
    if (dx) route(windowMax(layer.config, layer.inShape, layer.outShape, x, n), dy, dx, n * layer.outSize);
  },

  backward2(layer, x, _y, _dy, d2y, d2x, _hess, n) {
    if (d2x) route(windowMax(layer.config, layer.inShape, layer.outShape, x, n), d2y, d2x, n * layer.outSize);
  },

  lower: (layer, input, onnx) => onnx.node("MaxPool", [input], poolAttributes(layer.config)),
};

/** dx[at[o]] += d[o]: each output's derivative goes to its window's maximum. */
function route(at: Int32Array, d: Floats, dx: Floats, count: number): void {
  for (let o = 0; o < count; o++) dx[at[o]] += d[o];
}
