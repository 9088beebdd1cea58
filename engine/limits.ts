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

/** What the buffers of a batch depend on: the values of one sample at the input and after each layer, and their type. */
export interface BatchShape {
  /** Values of one input sample. */
  readonly inputSize: number;
  /** Values of one sample after each layer. */
  readonly layers: readonly { readonly outSize: number }[];
  /** The model's float type. */
  readonly dtype: "float32" | "float64";
}

/** Bytes of activation buffers one sample of a batch takes: its values at every layer and their two derivatives. */
export function bytesPerSample(model: BatchShape): number {
  const values = model.layers.reduce((sum, l) => sum + l.outSize, model.inputSize);
  return 3 * values * (model.dtype === "float64" ? 8 : 4);
}

/** The largest batch whose activation buffers fit in MAX_BUFFER_BYTES (at least 1). */
export function maxBatch(model: BatchShape): number {
  return Math.max(1, Math.floor(MAX_BUFFER_BYTES / bytesPerSample(model)));
}

/** Bytes as MiB, for messages: "1,024 MiB". */
export const mib = (bytes: number): string => `${grouped(Math.ceil(bytes / 2 ** 20))} MiB`;

/**
 * What is wrong with batches of `batch` samples for `model`, as what the
 * option or field that gave it must be ("an integer in 1..5,242 for this
 * model (a batch of ... needs ...)"), or null when it fits.
 * The flags, the checkpoint and `fit` check a batch with this before any
 * buffer is allocated.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "../mod.ts";
 * import { batchProblem } from "./limits.ts";
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
 * if (batchProblem(model, 32) !== null) throw new Error("a batch of 32 fits");
 * if (!batchProblem(model, 1e8)?.startsWith("an integer in 1..")) throw new Error("1e8 does not");
 * ```
 */
export function batchProblem(model: BatchShape, batch: number): string | null {
  const most = maxBatch(model);
  const rule = `an integer in 1..${grouped(most)} for this model`;
  if (!Number.isSafeInteger(batch) || batch < 1) return rule;
  if (batch <= most) return null;
  const asked = grouped(batch), need = mib(batch * bytesPerSample(model)), limit = mib(MAX_BUFFER_BYTES);
  return `${rule} (a batch of ${asked} needs ${need} of activation buffers, over the limit of ${limit}, MAX_BUFFER_BYTES)`;
}
