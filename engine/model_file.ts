/**
 * Saving and loading models: one JSON file with the graph and the
 * parameters (engine/model_json.ts has the format). Writes are atomic: a
 * temporary file in the same folder, then a rename, so a crash never leaves
 * half a file.
 *
 * @module
 */
import { fileProblem } from "../data/files.ts";
import type { KernelChoice } from "./kernels.ts";
import type { Model } from "./model.ts";
import { modelFromJSON, modelToJSON } from "./model_json.ts";
import type { Registries } from "./registry.ts";

export {
  base64ToFloats,
  floatsToBase64,
  isModelFile,
  MODEL_FORMAT,
  MODEL_VERSION,
  type ModelFile,
  modelFromJSON,
  modelToJSON,
  toBase64,
} from "./model_json.ts";

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
