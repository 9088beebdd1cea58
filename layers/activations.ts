/**
 * Activations: squash (the paper's scaled tanh), tanh and relu.
 *
 * @module
 */
import type { LayerPlugin } from "../engine/types.ts";
import { elementwise } from "./_elementwise.ts";

/** Config of squash: f(a) = A tanh(S a). */
export interface SquashConfig {
  readonly A: number;
  readonly S: number;
}

/**
 * squash: f(a) = A tanh(S a) with A = 1.7159 and S = 2/3 (eq. 6, appendix A),
 * so that f(1) = 1 and f(-1) = -1. Config: `A`, `S`.
 */
export const squash: LayerPlugin<SquashConfig> = elementwise<SquashConfig>({
  type: "squash",
  description: "scaled tanh A*tanh(S*a), A = 1.7159, S = 2/3 (the paper's eq. 6)",
  configure: (r) => ({
    A: r.number("A", { min: 0, exclusiveMin: true, fallback: 1.7159 }),
    S: r.number("S", { min: 0, exclusiveMin: true, fallback: 2 / 3 }),
  }),
  f: (c, x) => c.A * Math.tanh(c.S * x),
  // f' = A S (1 - tanh^2) = (S / A) (A^2 - y^2)
  df: (c, _x, y) => (c.S / c.A) * (c.A * c.A - y * y),
  // ONNX has no scaled tanh: Mul-Tanh-Mul.
  lower: (c, x, onnx) =>
    onnx.node("Mul", [
      onnx.node("Tanh", [onnx.node("Mul", [x, onnx.floats("S", [], [c.S])])]),
      onnx.floats("A", [], [c.A]),
    ]),
});

/** tanh: y = tanh(x). */
export const tanh: LayerPlugin<Record<never, never>> = elementwise<Record<never, never>>({
  type: "tanh",
  description: "hyperbolic tangent",
  configure: () => ({}),
  f: (_c, x) => Math.tanh(x),
  df: (_c, _x, y) => 1 - y * y,
  lower: (_c, x, onnx) => onnx.node("Tanh", [x]),
});

/** relu: y = max(0, x). */
export const relu: LayerPlugin<Record<never, never>> = elementwise<Record<never, never>>({
  type: "relu",
  description: "rectified linear unit max(0, x)",
  configure: () => ({}),
  f: (_c, x) => (x > 0 ? x : 0),
  df: (_c, x) => (x > 0 ? 1 : 0),
  lower: (_c, x, onnx) => onnx.node("Relu", [x]),
});
