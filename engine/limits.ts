/**
 * Size limits of a graph. `buildModel` checks them while it reads the graph,
 * before it allocates anything or loops over a size, so an oversized graph
 * fails at once with a message that names the field (or the totals) and the
 * limit. Each is far above what LeNet-5 needs (60,840 parameters, about
 * 17,000 values per sample) and generous for any model a CPU engine trains.
 *
 * @module
 */

/** Most dimensions of the graph's input shape. */
export const MAX_RANK = 8;

/** Largest entry of the graph's input shape. */
export const MAX_DIM = 65_536;

/** Largest `maps` of a conv2d layer (output feature maps). */
export const MAX_MAPS = 16_384;

/** Largest `units` of a full layer, and most `codes` (classes) of an rbf layer. */
export const MAX_UNITS = 65_536;

/** Largest kernel, pooling window, stride or padding of a layer. */
export const MAX_WINDOW = 1_024;

/**
 * Most (input map, output map) pairs one conv2d layer may connect, counted
 * as input maps x output maps (the size of its connection table).
 */
export const MAX_MAP_PAIRS = 4_194_304;

/** Most parameters (trainable and fixed) of a model. */
export const MAX_PARAMETERS = 50_000_000;

/** Most values of one sample over the input and every layer's output. */
export const MAX_ACTIVATIONS = 16_777_216;

/**
 * Most bytes of buffers a model allocates: when built, parameters, gradients
 * and second derivatives plus one sample's activations and their first and
 * second derivatives; when run, those activation buffers for a whole batch.
 */
export const MAX_BUFFER_BYTES = 2 ** 30;

/** A count with thousands separators, for messages: 50,000,000. */
export function grouped(n: number): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: 0 });
}
