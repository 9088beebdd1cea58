/**
 * Saving and loading models: one JSON file with the graph and the
 * parameters (little-endian float32, base64). Writes are atomic: a temporary
 * file in the same folder, then a rename, so a crash never leaves half a file.
 *
 * @module
 */
import { show } from "./config.ts";
import { buildModel, type GraphSpec, type Model } from "./model.ts";
import type { Registries } from "./registry.ts";

/** The `format` field of a model file. */
export const MODEL_FORMAT = "lenet5-ts/model";
/** The version of the model file format. */
export const MODEL_VERSION = 1;

/** A saved model: JSON. */
export interface ModelFile {
  readonly format: string;
  readonly version: number;
  readonly graph: GraphSpec;
  /** Number of float32 values in `params`. */
  readonly count: number;
  /** All parameters (trainable first), little-endian float32, base64. */
  readonly params: string;
}

/** Bytes as base64 text. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

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
  const bytes = fromBase64(text);
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
export function modelFromJSON(data: unknown, registry: Registries, source = "model"): Model {
  if (!isModelFile(data)) {
    throw new TypeError(
      `Cannot load ${source}: field "format" must be "${MODEL_FORMAT}", got ${
        show((data as { format?: unknown })?.format)
      }`,
    );
  }
  if (data.version !== MODEL_VERSION) {
    throw new TypeError(`Cannot load ${source}: field "version" is ${show(data.version)}, expected ${MODEL_VERSION}`);
  }
  const model = buildModel(data.graph, { registry });
  if (data.count !== model.params.length || typeof data.params !== "string") {
    throw new TypeError(
      `Cannot load ${source}: field "count" is ${
        show(data.count)
      }, expected ${model.params.length} parameters for its graph`,
    );
  }
  model.params.set(base64ToFloats(data.params, model.params.length, `${source}: field "params"`));
  return model;
}

/** Writes `text` to `path` atomically: a temporary file beside it, then a rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${Date.now()}`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Saves a model file atomically.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, loadModel, PRESETS, saveModel } from "../mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
 * await saveModel(path, model);
 * const back = await loadModel(path, defaultRegistry);
 * if (back.params[0] !== model.params[0]) throw new Error("round trip");
 * await Deno.remove(path);
 * ```
 */
export async function saveModel(path: string, model: Model): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(modelToJSON(model)));
}

/** Reads a JSON file, with errors that name it. */
export async function readJSONFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`Cannot read "${path}": no such file`);
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Cannot parse "${path}": ${(e as Error).message}`);
  }
}

/** Loads a model file. */
export async function loadModel(path: string, registry: Registries): Promise<Model> {
  return modelFromJSON(await readJSONFile(path), registry, `"${path}"`);
}
