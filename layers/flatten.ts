/**
 * flatten: [C, H, W] to [C * H * W], values unchanged.
 *
 * @module
 */
import { ConfigReader, sizeOf } from "../engine/config.ts";
import type { LayerPlugin } from "../engine/types.ts";

/** The `flatten` layer: [C, H, W] to [C * H * W], values unchanged. No config. */
export const flatten: LayerPlugin<Record<never, never>> = {
  type: "flatten",
  description: "reshape to a vector, values unchanged",
  configure(raw, _input, where) {
    new ConfigReader(raw, where).done();
    return {};
  },
  outputShape: (_c, input) => [sizeOf(input)],
  params: () => [],
  connections: () => 0,
  forward(layer, x, y, n) {
    y.set(x.subarray(0, n * layer.inSize));
  },
  backward(layer, _x, _y, dy, dx, _grads, n) {
    if (dx) { for (let i = 0; i < n * layer.inSize; i++) dx[i] += dy[i]; }
  },
  backward2(layer, _x, _y, _dy, d2y, d2x, _hess, n) {
    if (d2x) { for (let i = 0; i < n * layer.inSize; i++) d2x[i] += d2y[i]; }
  },
  // Channel-major [N, C, H, W] flattens row-major, as here.
  lower: (_layer, input, onnx) => onnx.node("Flatten", [input], { axis: { int: 1 } }),
};
