/**
 * Elementwise activations y = f(x): a plugin needs f and f' (from x and y).
 * Backward is dx += f' dy; the Gauss-Newton backward is d2x += f'^2 d2y.
 *
 * @module
 */
import { ConfigReader } from "../engine/config.ts";
import type { ConfigWhere, LayerPlugin, OnnxLowering, RawConfig, Shape } from "../engine/types.ts";

/** What an elementwise activation declares. */
export interface Activation<C> {
  readonly type: string;
  readonly description: string;
  configure(r: ConfigReader): C;
  f(c: C, x: number): number;
  /** Derivative at x, given y = f(x) (whichever is cheaper). */
  df(c: C, x: number, y: number): number;
  /** Optional: f as standard ONNX ops on the tensor `input` (see LayerPlugin.lower). */
  lower?(c: C, input: string, onnx: OnnxLowering): string;
}

/** Turns f and f' into a layer plugin. */
export function elementwise<C>(a: Activation<C>): LayerPlugin<C> {
  const lower = a.lower;
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
      const c = layer.config;
      for (let i = 0; i < n * layer.inSize; i++) y[i] = a.f(c, x[i]);
    },
    backward(layer, x, y, dy, dx, _grads, n) {
      if (!dx) return;
      const c = layer.config;
      for (let i = 0; i < n * layer.inSize; i++) dx[i] += a.df(c, x[i], y[i]) * dy[i];
    },
    backward2(layer, x, y, _dy, d2y, d2x, _hess, n) {
      if (!d2x) return;
      const c = layer.config;
      for (let i = 0; i < n * layer.inSize; i++) {
        const d = a.df(c, x[i], y[i]);
        d2x[i] += d * d * d2y[i];
      }
    },
    lower: lower && ((layer, input, onnx) => lower(layer.config, input, onnx)),
  };
}
