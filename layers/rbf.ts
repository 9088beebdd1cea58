/**
 * rbf: Euclidean radial basis function output units (eq. 7):
 * y_i = sum_j (x_j - w_ij)^2, the squared distance from the input to code i.
 * The predicted class is the unit with the smallest distance.
 *
 * Config: `codes`, one per class: either a bitmap string of 0/1 (1 = +1,
 * 0 = -1; "/" and spaces are ignored, so "0110/1001" reads as 8 values) or a
 * list of numbers. `trainable` (false): the paper keeps the codes fixed.
 *
 * Second derivatives: y_i is itself a sum of squares, whose curvature is
 * exact (d2y_i/dx_j^2 = 2), so backward2 keeps that term:
 * d2E/dx_j^2 = sum_i [ (2 (x_j - w_ij))^2 d2E/dy_i^2 + 2 dE/dy_i ].
 * With the paper's MSE criterion (E = y_D) this is 2, the classic value.
 *
 * @module
 */
import { ConfigReader, fieldError, requireVector, show } from "../engine/config.ts";
import { grouped, MAX_PARAMETERS, MAX_UNITS } from "../engine/limits.ts";
import type { LayerPlugin } from "../engine/types.ts";

/** Config of an rbf layer. */
export interface RbfConfig {
  /** Codes as numbers, classes x inputs. */
  readonly codes: Float64Array;
  /** Number of codes, one per class: the layer's outputs. */
  readonly classes: number;
  /** Whether the codes are trained (default false: fixed, as in the paper). */
  readonly trainable: boolean;
}

/** Reads one code: a 0/1 bitmap string (0 -> -1, 1 -> +1) or a list of numbers. */
export function parseCode(code: unknown): number[] | null {
  if (typeof code === "string") {
    const bits = code.replace(/[\s/]/g, "");
    return /^[01]+$/.test(bits) ? [...bits].map((b) => (b === "1" ? 1 : -1)) : null;
  }
  if (Array.isArray(code) && code.every((v) => typeof v === "number" && Number.isFinite(v))) return code;
  return null;
}

/** The `rbf` layer: the squared distance from the input to each class's code. Config: `codes`, `trainable`. */
export const rbf: LayerPlugin<RbfConfig> = {
  type: "rbf",
  description: "Euclidean RBF output: squared distance to a fixed code per class",
  exactCurvature: true,

  configure(raw, input, where) {
    const r = new ConfigReader(raw, where);
    const codes = r.raw("codes");
    const trainable = r.bool("trainable", false);
    r.done();
    const m = requireVector(input, where);
    if (!Array.isArray(codes) || codes.length < 2) {
      fieldError(where, "codes", `must be a list of at least 2 codes (one per class), got ${show(codes)}`);
    }
    if (codes.length > MAX_UNITS) {
      fieldError(where, "codes", `must hold at most ${MAX_UNITS} codes (MAX_UNITS), got ${codes.length}`);
    }
    if (codes.length * m > MAX_PARAMETERS) {
      const all = grouped(codes.length * m), limit = grouped(MAX_PARAMETERS);
      fieldError(
        where,
        "codes",
        `holds ${codes.length} codes of ${m} values: ${all} parameters, over the limit of ${limit} (MAX_PARAMETERS)`,
      );
    }
    const flat = new Float64Array(codes.length * m);
    codes.forEach((code, i) => {
      const values = parseCode(code);
      if (values === null) {
        fieldError(where, "codes", `entry ${i} must be a 0/1 bitmap string or a list of numbers, got ${show(code)}`);
      }
      if (values.length !== m) {
        fieldError(
          where,
          "codes",
          `entry ${i} has ${values.length} values, expected ${m} (the size of the input, shape [${m}])`,
        );
      }
      flat.set(values, i * m);
    });
    return { codes: flat, classes: codes.length, trainable };
  },

  outputShape: (c) => [c.classes],
  params: (c, input) => [
    {
      name: "codes",
      shape: [c.classes, input[0]],
      fanIn: input[0],
      fanOut: c.classes,
      role: "weight",
      trainable: c.trainable,
    },
  ],
  connections: (c, input) => c.classes * input[0],

  init(layer) {
    layer.params[0].set(layer.config.codes);
  },

  forward(layer, x, y, n) {
    const k = layer.config.classes, m = layer.inSize;
    const [w] = layer.params;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < k; i++) {
        let sum = 0;
        for (let j = 0; j < m; j++) {
          const d = x[b * m + j] - w[i * m + j];
          sum += d * d;
        }
        y[b * k + i] = sum;
      }
    }
  },

  backward(layer, x, _y, dy, dx, grads, n) {
    const k = layer.config.classes, m = layer.inSize;
    const [w] = layer.params;
    const [gw] = grads;
    const train = gw.length > 0;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < k; i++) {
        const g = 2 * dy[b * k + i];
        for (let j = 0; j < m; j++) {
          const d = x[b * m + j] - w[i * m + j];
          if (dx) dx[b * m + j] += g * d;
          if (train) gw[i * m + j] -= g * d;
        }
      }
    }
  },

  backward2(layer, x, _y, dy, d2y, d2x, hess, n) {
    const k = layer.config.classes, m = layer.inSize;
    const [w] = layer.params;
    const [hw] = hess;
    const train = hw.length > 0;
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < k; i++) {
        const g2 = d2y[b * k + i], g1 = 2 * dy[b * k + i];
        for (let j = 0; j < m; j++) {
          const d = x[b * m + j] - w[i * m + j];
          const t = 4 * d * d * g2 + g1;
          if (d2x) d2x[b * m + j] += t;
          if (train) hw[i * m + j] += t;
        }
      }
    }
  },

  // ONNX has no RBF unit: (x - w)^2 summed, with x as [N, 1, inputs] against
  // the codes [classes, inputs] (Sub, Mul, ReduceSum; axes are inputs since opset 13).
  lower(layer, input, onnx) {
    const k = layer.config.classes, m = layer.inSize;
    const x = onnx.node("Unsqueeze", [input, onnx.ints("unsqueeze_axes", [1], [1])]);
    const d = onnx.node("Sub", [x, onnx.floats("codes", [k, m], layer.params[0])]);
    const sum = onnx.ints("sum_axes", [1], [2]);
    return onnx.node("ReduceSum", [onnx.node("Mul", [d, d]), sum], { keepdims: { int: 0 } });
  },
};
