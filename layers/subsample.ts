/**
 * subsample: LeCun et al.'s trainable subsampling (S2, S4). Each output unit is
 * the sum of a size x size block of its map, times a trainable coefficient,
 * plus a trainable bias: one coefficient and one bias per map.
 *
 * Config: `size` (2), `stride` (default: size).
 *
 * @module
 */
import type { LayerPlugin } from "../engine/types.ts";
import { configurePool, type PoolConfig, poolShape } from "./_pool.ts";

/** The `subsample` layer: block sum x trainable coefficient + trainable bias, per map. Config: `size`, `stride`. */
export const subsample: LayerPlugin<PoolConfig> = {
  type: "subsample",
  description: "sum of each block x trainable coefficient + trainable bias, per map (LeCun)",
  configure: configurePool,
  outputShape: poolShape,

  params(c, input) {
    const fanIn = c.size * c.size;
    return [
      { name: "coef", shape: [input[0]], fanIn, fanOut: 1, role: "weight" },
      { name: "bias", shape: [input[0]], fanIn, fanOut: 1, role: "bias" },
    ];
  },

  connections(c, input) {
    const [m, ho, wo] = poolShape(c, input);
    return m * ho * wo * (c.size * c.size + 1);
  },

  forward(layer, x, y, n) {
    const { size, stride } = layer.config;
    const [maps, h, w] = layer.inShape;
    const [, ho, wo] = layer.outShape;
    const [coef, bias] = layer.params;
    for (let b = 0; b < n; b++) {
      for (let m = 0; m < maps; m++) {
        const xi = (b * maps + m) * h * w, yo = (b * maps + m) * ho * wo;
        const cm = coef[m], bm = bias[m];
        for (let oy = 0; oy < ho; oy++) {
          for (let ox = 0; ox < wo; ox++) {
            let sum = 0;
            for (let ky = 0; ky < size; ky++) {
              const row = xi + (oy * stride + ky) * w + ox * stride;
              for (let kx = 0; kx < size; kx++) sum += x[row + kx];
            }
            y[yo + oy * wo + ox] = cm * sum + bm;
          }
        }
      }
    }
  },

  backward(layer, x, _y, dy, dx, grads, n) {
    const { size, stride } = layer.config;
    const [maps, h, w] = layer.inShape;
    const [, ho, wo] = layer.outShape;
    const [coef] = layer.params;
    const [gc, gb] = grads;
    for (let b = 0; b < n; b++) {
      for (let m = 0; m < maps; m++) {
        const xi = (b * maps + m) * h * w, yo = (b * maps + m) * ho * wo;
        const cm = coef[m];
        let sc = 0, sb = 0;
        for (let oy = 0; oy < ho; oy++) {
          for (let ox = 0; ox < wo; ox++) {
            const g = dy[yo + oy * wo + ox], gx = g * cm;
            let sum = 0;
            for (let ky = 0; ky < size; ky++) {
              const row = xi + (oy * stride + ky) * w + ox * stride;
              for (let kx = 0; kx < size; kx++) sum += x[row + kx];
              if (dx) { for (let kx = 0; kx < size; kx++) dx[row + kx] += gx; }
            }
            sc += g * sum;
            sb += g;
          }
        }
        gc[m] += sc;
        gb[m] += sb;
      }
    }
  },

  backward2(layer, x, _y, _dy, d2y, d2x, hess, n) {
    const { size, stride } = layer.config;
    const [maps, h, w] = layer.inShape;
    const [, ho, wo] = layer.outShape;
    const [coef] = layer.params;
    const [hc, hb] = hess;
    for (let b = 0; b < n; b++) {
      for (let m = 0; m < maps; m++) {
        const xi = (b * maps + m) * h * w, yo = (b * maps + m) * ho * wo;
        const c2 = coef[m] * coef[m];
        for (let oy = 0; oy < ho; oy++) {
          for (let ox = 0; ox < wo; ox++) {
            const g = d2y[yo + oy * wo + ox];
            let squares = 0;
            for (let ky = 0; ky < size; ky++) {
              const row = xi + (oy * stride + ky) * w + ox * stride;
              for (let kx = 0; kx < size; kx++) {
                squares += x[row + kx] * x[row + kx];
                if (d2x) d2x[row + kx] += g * c2;
              }
            }
            hc[m] += g * squares;
            hb[m] += g;
          }
        }
      }
    }
  },

  // ONNX has no trainable subsampling: a depthwise Conv (one group per map)
  // whose size x size kernel of map m is coef[m] everywhere, plus the bias.
  lower(layer, input, onnx) {
    const { size, stride } = layer.config;
    const maps = layer.inShape[0];
    const [coef, bias] = layer.params;
    const kernel = new Float32Array(maps * size * size);
    for (let m = 0; m < maps; m++) kernel.fill(coef[m], m * size * size, (m + 1) * size * size);
    const w = onnx.floats("coef", [maps, 1, size, size], kernel);
    return onnx.node("Conv", [input, w, onnx.floats("bias", [maps], bias)], {
      group: { int: maps },
      kernel_shape: { ints: [size, size] },
      strides: { ints: [stride, stride] },
    });
  },
};
