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
import { configurePool, type PoolConfig, poolShape } from "./_pool.ts";

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

export const maxpool: LayerPlugin<PoolConfig> = {
  type: "maxpool",
  description: "maximum of each window, no parameters",
  configure: configurePool,
  outputShape: poolShape,
  params: () => [],
  connections(c, input) {
    const [m, ho, wo] = poolShape(c, input);
    return m * ho * wo * c.size * c.size;
  },

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

  lower(layer, input, onnx) {
    const { size, stride } = layer.config;
    return onnx.node("MaxPool", [input], { kernel_shape: { ints: [size, size] }, strides: { ints: [stride, stride] } });
  },
};

/** dx[at[o]] += d[o]: each output's derivative goes to its window's maximum. */
function route(at: Int32Array, d: Floats, dx: Floats, count: number): void {
  for (let o = 0; o < count; o++) dx[at[o]] += d[o];
}
