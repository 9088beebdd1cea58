/**
 * Elementwise activations y = f(x): a plugin needs f and f' (from x and y).
 * Backward is dx += f' dy; the Gauss-Newton backward is d2x += f'^2 d2y.
 *
 * An activation may also bring its own loops over whole arrays (`kernels`),
 * which the built-ins do for speed; the loops over f and f' here stay the
 * reference that the tests compare them against.
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { ConfigWhere, Floats, LayerPlugin, OnnxLowering, RawConfig, Shape } from "../engine/types.ts";

/** Loops of an activation over the first `size` values of whole arrays. */
export interface ElementwiseKernels<C> {
  /** y = f(x). */
  forward(c: C, x: Floats, y: Floats, size: number): void;
  /** dx += f' dy. */
  backward(c: C, x: Floats, y: Floats, dy: Floats, dx: Floats, size: number): void;
  /** d2x += f'^2 d2y. */
  backward2(c: C, x: Floats, y: Floats, d2y: Floats, d2x: Floats, size: number): void;
}

/** What an elementwise activation declares. */
export interface Activation<C> {
  /** Registered name of the layer, e.g. `"squash"`. */
  readonly type: string;
  /** One line for help texts and summaries. */
  readonly description: string;
  /** Reads the config fields from `r`; fields it does not read are rejected after. */
  configure(r: ConfigReader): C;
  /** The activation of one value, f(x). */
  f(c: C, x: number): number;
  /** Derivative at x, given y = f(x) (whichever is cheaper). */
  df(c: C, x: number, y: number): number;
  /** Optional: f as standard ONNX ops on the tensor `input` (see LayerPlugin.lower). */
  lower?(c: C, input: string, onnx: OnnxLowering): string;
  /** Optional fast loops; they must compute what f and df give (to float32 rounding in float32). */
  kernels?: ElementwiseKernels<C>;
}

/** The plain loops over `a.f` and `a.df`: the reference for an activation's own kernels. */
export function referenceKernels<C>(a: Activation<C>): ElementwiseKernels<C> {
  return {
    forward(c, x, y, size) {
      for (let i = 0; i < size; i++) y[i] = a.f(c, x[i]);
    },
    backward(c, x, y, dy, dx, size) {
      for (let i = 0; i < size; i++) dx[i] += a.df(c, x[i], y[i]) * dy[i];
    },
    backward2(c, x, y, d2y, d2x, size) {
      for (let i = 0; i < size; i++) {
        const d = a.df(c, x[i], y[i]);
        d2x[i] += d * d * d2y[i];
      }
    },
  };
}

/** Turns f and f' (or the activation's own kernels) into a layer plugin. */
export function elementwise<C>(a: Activation<C>): LayerPlugin<C> {
  const lower = a.lower;
  const k = a.kernels ?? referenceKernels(a);
  return {
    type: a.type,
    description: a.description,
    configure(raw: RawConfig, _input: Shape, where: ConfigWhere): C {
      const r = new ConfigReader(raw, where);
      const c = a.configure(r);
      r.done();
      return c;
    },
    outputShape: (_c, input) => input,
    params: () => [],
    connections: () => 0,
    forward(layer, x, y, n) {
      k.forward(layer.config, x, y, n * layer.inSize);
    },
    backward(layer, x, y, dy, dx, _grads, n) {
      if (dx) k.backward(layer.config, x, y, dy, dx, n * layer.inSize);
    },
    backward2(layer, x, y, _dy, d2y, d2x, _hess, n) {
      if (d2x) k.backward2(layer.config, x, y, d2y, d2x, n * layer.inSize);
    },
    lower: lower && ((layer, input, onnx) => lower(layer.config, input, onnx)),
  };
}
