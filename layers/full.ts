/**
 * full: fully connected layer y = W x + b on a vector input (F6).
 *
 * Config: `units`. Weight shape (units, inputs).
 *
 * @module
 */
import { ConfigReader, requireVector } from "../engine/config.ts";
import { MAX_UNITS } from "../engine/limits.ts";
import type { LayerPlugin } from "../engine/types.ts";
import { denseBackward, denseForward } from "./_dense.ts";
import { squares } from "./_scratch.ts";

/** Config of a full layer. */
export interface FullConfig {
  /** Number of outputs: the rows of the (units, inputs) weight. */
  readonly units: number;
}

/** The `full` layer: fully connected y = W x + b on a vector input. Config: `units`. */
export const full: LayerPlugin<FullConfig> = {
  type: "full",
  description: "fully connected y = W x + b",
  configure(raw, input, where) {
    const r = new ConfigReader(raw, where);
    const units = r.int("units", { min: 1, max: MAX_UNITS, limit: "MAX_UNITS" });
    r.done();
    requireVector(input, where);
    return { units };
  },
  outputShape: (c) => [c.units],
  params: (c, input) => [
    { name: "weight", shape: [c.units, input[0]], fanIn: input[0], fanOut: c.units, role: "weight" },
    { name: "bias", shape: [c.units], fanIn: input[0], fanOut: c.units, role: "bias" },
  ],
  connections: (c, input) => c.units * (input[0] + 1),

  forward(layer, x, y, n) {
    denseForward(x, layer.params[0], layer.params[1], y, n, layer.inSize, layer.config.units);
  },

  backward(layer, x, _y, dy, dx, grads, n) {
    denseBackward(x, layer.params[0], dy, dx, grads[0], grads[1], n, layer.inSize, layer.config.units);
  },

  // Gauss-Newton: hw += d2y x^2, hb += d2y, d2x += w^2 d2y.
  backward2(layer, x, _y, _dy, d2y, d2x, hess, n) {
    const x2 = squares(x, 0, n * layer.inSize), w2 = squares(layer.params[0], 1);
    denseBackward(x2, w2, d2y, d2x, hess[0], hess[1], n, layer.inSize, layer.config.units);
  },

  lower(layer, input, onnx) {
    const [wt, bias] = layer.params;
    const w = onnx.floats("weight", [layer.config.units, layer.inSize], wt);
    return onnx.node("Gemm", [input, w, onnx.floats("bias", [layer.config.units], bias)], { transB: { int: 1 } });
  },
};

/** The plain loops of the full layer: the reference the tests compare the dense kernels against. */
export const fullReference: Pick<LayerPlugin<FullConfig>, "forward" | "backward" | "backward2"> = {
  forward(layer, x, y, n) {
    const units = layer.config.units, m = layer.inSize;
    const [wt, bias] = layer.params;
    for (let b = 0; b < n; b++) {
      const xb = b * m;
      for (let u = 0; u < units; u++) {
        let sum = bias[u];
        const wu = u * m;
        for (let j = 0; j < m; j++) sum += wt[wu + j] * x[xb + j];
        y[b * units + u] = sum;
      }
    }
  },

  backward(layer, x, _y, dy, dx, grads, n) {
    const units = layer.config.units, m = layer.inSize;
    const [wt] = layer.params;
    const [gw, gb] = grads;
    for (let b = 0; b < n; b++) {
      const xb = b * m;
      for (let u = 0; u < units; u++) {
        const g = dy[b * units + u];
        gb[u] += g;
        const wu = u * m;
        for (let j = 0; j < m; j++) {
          gw[wu + j] += g * x[xb + j];
          if (dx) dx[xb + j] += g * wt[wu + j];
        }
      }
    }
  },

  backward2(layer, x, _y, _dy, d2y, d2x, hess, n) {
    const units = layer.config.units, m = layer.inSize;
    const [wt] = layer.params;
    const [hw, hb] = hess;
    for (let b = 0; b < n; b++) {
      const xb = b * m;
      for (let u = 0; u < units; u++) {
        const g = d2y[b * units + u];
        hb[u] += g;
        const wu = u * m;
        for (let j = 0; j < m; j++) {
          const xv = x[xb + j], wv = wt[wu + j];
          hw[wu + j] += g * xv * xv;
          if (d2x) d2x[xb + j] += g * wv * wv;
        }
      }
    }
  },
};
