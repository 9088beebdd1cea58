/**
 * Activations: squash (the paper's scaled tanh), tanh and relu, each with
 * its own loops (see _elementwise.ts; f and df are their reference).
 *
 * In float32, the scaled tanh kernels use {@linkcode tanh32}, a rational
 * approximation within 1.3e-7 relative of tanh (about one float32 unit in the
 * last place) and several times faster than Math.tanh; in float64 (the
 * checkers) they use Math.tanh.
 *
 * @module
 */
import type { Floats, LayerPlugin } from "../engine/types.ts";
import { type Activation, elementwise, type ElementwiseKernels } from "./_elementwise.ts";

/** Config of squash: f(a) = A tanh(S a). */
export interface SquashConfig {
  /** Amplitude, > 0: f ranges over (-A, A); default 1.7159. */
  readonly A: number;
  /** Scale of the input, > 0 (the slope at 0 is A S); default 2/3. */
  readonly S: number;
}

/**
 * tanh(v) to float32 precision: an odd rational function of degree 13/6 on
 * [-9, 9] (the coefficients of Eigen's float tanh), +-1 beyond, where tanh
 * rounds to +-1 in float32. Relative error at most 1.3e-7.
 */
export function tanh32(v: number): number {
  const t = v > 9 ? 9 : v < -9 ? -9 : v;
  const s = t * t;
  const p = t * (4.89352455891786e-3 +
    s * (6.37261928875436e-4 +
        s * (1.48572235717979e-5 +
            s *
              (5.12229709037114e-8 +
                s * (-8.60467152213735e-11 + s * (2.00018790482477e-13 + s * -2.76076847742355e-16))))));
  const q = 4.89352518554385e-3 + s * (2.268434632439e-3 + s * (1.18534705686654e-4 + s * 1.19825839466702e-6));
  return p / q;
}

/** y = A tanh(S x): tanh32 into a Float32Array, Math.tanh into a Float64Array. */
function scaledTanh(A: number, S: number, x: Floats, y: Floats, size: number): void {
  if (y instanceof Float32Array) {
    for (let i = 0; i < size; i++) y[i] = A * tanh32(S * x[i]);
  } else {
    for (let i = 0; i < size; i++) y[i] = A * Math.tanh(S * x[i]);
  }
}

/** Kernels of A tanh(S x), whose derivative is (S / A) (A^2 - y^2). */
function scaledTanhKernels<C>(params: (c: C) => SquashConfig): ElementwiseKernels<C> {
  return {
    forward(c, x, y, size) {
      const { A, S } = params(c);
      scaledTanh(A, S, x, y, size);
    },
    backward(c, _x, y, dy, dx, size) {
      const { A, S } = params(c);
      const r = S / A, A2 = A * A;
      for (let i = 0; i < size; i++) {
        const v = y[i];
        dx[i] += r * (A2 - v * v) * dy[i];
      }
    },
    backward2(c, _x, y, d2y, d2x, size) {
      const { A, S } = params(c);
      const r = S / A, A2 = A * A;
      for (let i = 0; i < size; i++) {
        const v = y[i], d = r * (A2 - v * v);
        d2x[i] += d * d * d2y[i];
      }
    },
  };
}

/**
 * squash: f(a) = A tanh(S a) with A = 1.7159 and S = 2/3 (eq. 6, appendix A),
 * so that f(1) = 1 and f(-1) = -1. Config: `A`, `S`.
 */
export const SQUASH: Activation<SquashConfig> = {
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
  kernels: scaledTanhKernels((c) => c),
};

/** The squash layer (see {@linkcode SQUASH}). */
export const squash: LayerPlugin<SquashConfig> = elementwise(SQUASH);

const UNIT: SquashConfig = { A: 1, S: 1 };

/** tanh: y = tanh(x). */
export const TANH: Activation<Record<never, never>> = {
  type: "tanh",
  description: "hyperbolic tangent",
  configure: () => ({}),
  f: (_c, x) => Math.tanh(x),
  df: (_c, _x, y) => 1 - y * y,
  lower: (_c, x, onnx) => onnx.node("Tanh", [x]),
  kernels: scaledTanhKernels(() => UNIT),
};

/** The tanh layer (see {@linkcode TANH}). */
export const tanh: LayerPlugin<Record<never, never>> = elementwise(TANH);

/** relu: y = max(0, x). */
export const RELU: Activation<Record<never, never>> = {
  type: "relu",
  description: "rectified linear unit max(0, x)",
  configure: () => ({}),
  f: (_c, x) => (x > 0 ? x : 0),
  df: (_c, x) => (x > 0 ? 1 : 0),
  lower: (_c, x, onnx) => onnx.node("Relu", [x]),
  // Branch-free: on random signs a branch per element mispredicts half the time.
  // (v + |v|) / 2 is exactly max(v, 0); +(v > 0) is 1 or 0.
  kernels: {
    forward(_c, x, y, size) {
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = (v + Math.abs(v)) * 0.5;
      }
    },
    backward(_c, x, _y, dy, dx, size) {
      for (let i = 0; i < size; i++) dx[i] += dy[i] * +(x[i] > 0);
    },
    backward2(_c, x, _y, d2y, d2x, size) {
      for (let i = 0; i < size; i++) d2x[i] += d2y[i] * +(x[i] > 0);
    },
  },
};

/** The relu layer (see {@linkcode RELU}). */
export const relu: LayerPlugin<Record<never, never>> = elementwise(RELU);
