/**
 * avgpool: mean of each size x size window, no parameters.
 *
 * Config: `size` (2), `stride` (default: size).
 *
 * @module
 */
import type { LayerPlugin } from "../engine/types.ts";
import { plainPool, poolAttributes, type PoolConfig } from "./_pool.ts";

/** The `avgpool` layer: the mean of each window, no parameters. Config: `size`, `stride`. */
export const avgpool: LayerPlugin<PoolConfig> = {
  type: "avgpool",
  description: "mean of each window, no parameters",
  ...plainPool,

  forward(layer, x, y, n) {
    const { size, stride } = layer.config;
    const [maps, h, w] = layer.inShape;
    const [, ho, wo] = layer.outShape;
    const inv = 1 / (size * size);
    for (let bm = 0; bm < n * maps; bm++) {
      const xi = bm * h * w, yo = bm * ho * wo;
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let sum = 0;
          for (let ky = 0; ky < size; ky++) {
            const row = xi + (oy * stride + ky) * w + ox * stride;
            for (let kx = 0; kx < size; kx++) sum += x[row + kx];
          }
          y[yo + oy * wo + ox] = sum * inv;
        }
      }
    }
  },

  backward(layer, _x, _y, dy, dx, _grads, n) {
    if (dx) spread(layer.config, layer.inShape, layer.outShape, dy, dx, n, 1 / (layer.config.size ** 2));
  },

  backward2(layer, _x, _y, _dy, d2y, d2x, _hess, n) {
    if (d2x) spread(layer.config, layer.inShape, layer.outShape, d2y, d2x, n, 1 / (layer.config.size ** 4));
  },

  lower: (layer, input, onnx) => onnx.node("AveragePool", [input], poolAttributes(layer.config)),
};

/** dx[window] += factor * dy for every window. */
function spread(
  c: PoolConfig,
  inShape: readonly number[],
  outShape: readonly number[],
  dy: ArrayLike<number>,
  dx: { [i: number]: number },
  n: number,
  factor: number,
): void {
  const { size, stride } = c;
  const [maps, h, w] = inShape;
  const [, ho, wo] = outShape;
  for (let bm = 0; bm < n * maps; bm++) {
    const xi = bm * h * w, yo = bm * ho * wo;
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const g = dy[yo + oy * wo + ox] * factor;
        for (let ky = 0; ky < size; ky++) {
          const row = xi + (oy * stride + ky) * w + ox * stride;
          for (let kx = 0; kx < size; kx++) dx[row + kx] += g;
        }
      }
    }
  }
}
