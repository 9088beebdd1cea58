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

/** Calls visit(outIndex, inIndexOfMax) for every window. */
function eachMax(
  c: PoolConfig,
  inShape: readonly number[],
  outShape: readonly number[],
  x: Floats,
  n: number,
  visit: (o: number, i: number) => void,
): void {
  const { size, stride } = c;
  const [maps, h, w] = inShape;
  const [, ho, wo] = outShape;
  for (let bm = 0; bm < n * maps; bm++) {
    const xi = bm * h * w, yo = bm * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        let best = xi + oy * stride * w + ox * stride;
        for (let ky = 0; ky < size; ky++) {
          const row = xi + (oy * stride + ky) * w + ox * stride;
          for (let kx = 0; kx < size; kx++) if (x[row + kx] > x[best]) best = row + kx;
        }
        visit(yo + oy * wo + ox, best);
      }
    }
  }
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
    eachMax(layer.config, layer.inShape, layer.outShape, x, n, (o, i) => {
      y[o] = x[i];
    });
  },

  backward(layer, x, _y, dy, dx, _grads, n) {
    if (!dx) return;
    eachMax(layer.config, layer.inShape, layer.outShape, x, n, (o, i) => {
      dx[i] += dy[o];
    });
  },

  backward2(layer, x, _y, _dy, d2y, d2x, _hess, n) {
    if (!d2x) return;
    eachMax(layer.config, layer.inShape, layer.outShape, x, n, (o, i) => {
      d2x[i] += d2y[o];
    });
  },

  lower(layer, input, onnx) {
    const { size, stride } = layer.config;
    return onnx.node("MaxPool", [input], { kernel_shape: { ints: [size, size] }, strides: { ints: [stride, stride] } });
  },
};
