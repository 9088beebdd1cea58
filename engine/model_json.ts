/**
 * Models as JSON data: the graph and the parameters (little-endian float32,
 * base64), the format of a model file. No file access (engine/model_file.ts
 * reads and writes the files), so the browser bundle has it too.
 *
 * @module
 */
import { fromBase64, toBase64 } from "./base64.ts";
import { show } from "./config.ts";
import { describeNonFinite, firstNonFinite } from "./finite.ts";
import { buildModel, type GraphSpec, type Model } from "./model.ts";
import type { KernelChoice } from "./kernels.ts";
import type { Registries } from "./registry.ts";

/** The `format` field of a model file. */
export const MODEL_FORMAT = "lenet5-ts/model";
/** The version of the model file format. */
export const MODEL_VERSION = 1;

/** A saved model: JSON. */
export interface ModelFile {
  /** Always {@linkcode MODEL_FORMAT}: what tells a model file from other JSON. */
  readonly format: string;
  /** Version of the file format; loading accepts only the current one, 1. */
  readonly version: number;
  /** The graph the parameters belong to. */
  readonly graph: GraphSpec;
  /** Number of float32 values in `params`. */
  readonly count: number;
  /** All parameters (trainable first), little-endian float32, base64. */
  readonly params: string;
}

export { toBase64 } from "./base64.ts";

/** Float values as little-endian float32, base64. */
export function floatsToBase64(values: ArrayLike<number>): string {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return toBase64(bytes);
}

/** Decodes `floatsToBase64` output of `count` values; `what` names the field in errors. */
export function base64ToFloats(text: unknown, count: number, what: string): Float32Array {
  if (typeof text !== "string") throw new TypeError(`Cannot load ${what}: expected base64 text, got ${show(text)}`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(text);
  } catch {
    // atob throws a DOMException (InvalidCharacterError) on a character or length base64 does not allow.
    throw new TypeError(`Cannot load ${what}: expected base64 text, got characters or a length base64 does not allow`);
  }
  if (bytes.length !== count * 4) {
    throw new TypeError(`Cannot load ${what}: holds ${bytes.length} bytes, expected ${count * 4}`);
  }
  const view = new DataView(bytes.buffer);
  return Float32Array.from({ length: count }, (_, i) => view.getFloat32(i * 4, true));
}

/** The model as model-file data. */
export function modelToJSON(model: Model): ModelFile {
  return {
    format: MODEL_FORMAT,
    version: MODEL_VERSION,
    graph: model.graph,
    count: model.params.length,
    params: floatsToBase64(model.params),
  };
}

/** True when `data` looks like a saved model rather than a bare graph. */
export function isModelFile(data: unknown): data is ModelFile {
  return data !== null && typeof data === "object" && (data as { format?: unknown }).format === MODEL_FORMAT;
}

/** Rebuilds a model from model-file data; `source` names the file in errors. */
export function modelFromJSON(
  data: unknown,
  registry: Registries,
  source = "model",
  options: { kernels?: KernelChoice } = {},
): Model {
  if (!isModelFile(data)) {
    const got = show((data as { format?: unknown })?.format);
    throw new TypeError(`Cannot load ${source}: field "format" must be "${MODEL_FORMAT}", got ${got}`);
  }
  if (data.version !== MODEL_VERSION) {
    throw new TypeError(`Cannot load ${source}: field "version" is ${show(data.version)}, expected ${MODEL_VERSION}`);
  }
  let model: Model;
  try {
    model = buildModel(data.graph, { registry, kernels: options.kernels });
  } catch (e) {
    // The error keeps its type (a GraphError, say) and gains the file and the field.
    (e as Error).message = `Cannot load ${source}: field "graph": ${(e as Error).message}`;
    throw e;
  }
  if (data.count !== model.params.length || typeof data.params !== "string") {
    const got = show(data.count);
    throw new TypeError(
      `Cannot load ${source}: field "count" is ${got}, expected ${model.params.length} parameters for its graph`,
    );
  }
  model.params.set(base64ToFloats(data.params, model.params.length, `${source}: field "params"`));
  const bad = firstNonFinite(model);
  if (bad) {
    const what = describeNonFinite(bad);
    throw new TypeError(
      `Cannot load ${source}: ${what}; a model's weights must be finite numbers (saved from a diverged run?)`,
    );
  }
  return model;
}
