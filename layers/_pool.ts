/**
 * Geometry shared by the pooling layers (subsample, avgpool, maxpool):
 * windows of size x size moved by stride over each map.
 *
 * @module
 */
import { buildError, ConfigReader, requireMaps, showShape } from "../engine/config.ts";
import { MAX_WINDOW } from "../engine/limits.ts";
import type { ConfigWhere, LayerPlugin, RawConfig, Shape } from "../engine/types.ts";

/** Window size and stride. */
export interface PoolConfig {
  /** Side of the square window, in pixels (default 2). */
  readonly size: number;
  /** Step between two windows, in pixels (default `size`: windows that do not overlap). */
  readonly stride: number;
}

/** Reads `size` (default 2) and `stride` (default: size); the windows must tile the map exactly. */
export function configurePool(raw: RawConfig, input: Shape, where: ConfigWhere): PoolConfig {
  const r = new ConfigReader(raw, where);
  const size = r.int("size", { min: 1, max: MAX_WINDOW, limit: "MAX_WINDOW", fallback: 2 });
  const stride = r.int("stride", { min: 1, max: MAX_WINDOW, limit: "MAX_WINDOW", fallback: size });
  r.done();
  const [, h, w] = requireMaps(input, where);
  if (h < size || w < size || (h - size) % stride !== 0 || (w - size) % stride !== 0) {
    const shape = showShape(input);
    buildError(
      where,
      `input shape ${shape} does not tile into ${size}x${size} windows with stride ${stride}; expected (height - size) and (width - size) to be multiples of the stride`,
    );
  }
  return { size, stride };
}

/** Output shape of a pooling layer. */
export function poolShape(c: PoolConfig, input: Shape): Shape {
  return [input[0], (input[1] - c.size) / c.stride + 1, (input[2] - c.size) / c.stride + 1];
}

/** What the pooling layers without parameters (avgpool, maxpool) share: config, shape, size x size connections per output. */
export const plainPool: Pick<LayerPlugin<PoolConfig>, "configure" | "outputShape" | "params" | "connections"> = {
  configure: configurePool,
  outputShape: poolShape,
  params: () => [],
  connections(c, input) {
    const [m, ho, wo] = poolShape(c, input);
    return m * ho * wo * c.size * c.size;
  },
};

/** The ONNX attributes of a pooling node over the layer's windows. */
export const poolAttributes = ({ size, stride }: PoolConfig): Record<string, { ints: number[] }> => ({
  kernel_shape: { ints: [size, size] },
  strides: { ints: [stride, stride] },
});
