/**
 * Saving and loading models: one JSON file with the graph and the
 * parameters (little-endian float32, base64). Writes are atomic: a temporary
 * file in the same folder, then a rename, so a crash never leaves half a file.
 *
 * @module
 */
import { fileProblem } from "../data/files.ts";
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
    throw new TypeError(
      `Cannot load ${source}: field "format" must be "${MODEL_FORMAT}", got ${
        show((data as { format?: unknown })?.format)
      }`,
    );
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
    throw new TypeError(
      `Cannot load ${source}: field "count" is ${
        show(data.count)
      }, expected ${model.params.length} parameters for its graph`,
    );
  }
  model.params.set(base64ToFloats(data.params, model.params.length, `${source}: field "params"`));
  const bad = firstNonFinite(model);
  if (bad) {
    throw new TypeError(
      `Cannot load ${source}: ${
        describeNonFinite(bad)
      }; a model's weights must be finite numbers (saved from a diverged run?)`,
    );
  }
  return model;
}

/** The temporary file writeFileAtomic writes before renaming it to `path`. */
const temporaryFor = (path: string) => `${path}.tmp-${Deno.pid}-${Date.now()}`;

/** True for the name of a temporary file writeFileAtomic made for `name` (any process, any time). */
export function isTemporaryOf(entry: string, name: string): boolean {
  return entry.startsWith(`${name}.tmp-`) && /^\d+-\d+$/.test(entry.slice(name.length + 5));
}

/**
 * Removes the temporary files writeFileAtomic left in `dir` for the files
 * `names` (a process killed while writing leaves one behind). Returns their names.
 */
export async function removeStaleTemporaries(dir: string, names: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && names.some((n) => isTemporaryOf(e.name, n))) {
        await Deno.remove(`${dir}/${e.name}`).catch(() => {});
        removed.push(e.name);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return removed;
}

/** Writes `text` to `path` atomically: a temporary file beside it, then a rename. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = temporaryFor(path);
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

/**
 * The largest JSON file read (model, checkpoint, graph): 256 MiB. A LeNet-5
 * model file is about 0.1 MB, a checkpoint 0.5 MB; the largest graph the
 * engine builds (50 M parameters) saves to about 270 MB of base64.
 */
export const MAX_JSON_BYTES = 256 * 2 ** 20;

/** Reads a JSON file, with errors that name it; files over MAX_JSON_BYTES are refused unread. */
export async function readJSONFile(path: string): Promise<unknown> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory) throw new Deno.errors.IsADirectory();
    if (info.size > MAX_JSON_BYTES) {
      throw new RangeError(
        `Cannot read "${path}": it holds ${info.size.toLocaleString("en-US")} bytes, more than the ${
          MAX_JSON_BYTES.toLocaleString("en-US")
        } a model, checkpoint or graph file may`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof RangeError) throw e;
    throw new Error(`Cannot read "${path}": ${fileProblem(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SyntaxError(`Cannot parse "${path}": ${(e as Error).message}`);
  }
}

/** Loads a model file (`kernels`: see `BuildOptions.kernels`). */
export async function loadModel(
  path: string,
  registry: Registries,
  options: { kernels?: KernelChoice } = {},
): Promise<Model> {
  return modelFromJSON(await readJSONFile(path), registry, `"${path}"`, options);
}
