/**
 * Saving and loading models: one JSON file with the graph and the
 * parameters (engine/model_json.ts has the format). Writes are atomic: a
 * temporary file in the same folder, then a rename, so a crash never leaves
 * half a file.
 *
 * @module
 */
import { readFileBounded } from "../data/files.ts";
import type { KernelChoice } from "./kernels.ts";
import type { Model } from "./model.ts";
import { modelFromJSON, modelToJSON } from "./model_json.ts";
import type { Registries } from "./registry.ts";

export { base64ToFloats, floatsToBase64, isModelFile, MODEL_FORMAT, toBase64 } from "./model_json.ts";
export { modelFromJSON, modelToJSON } from "./model_json.ts";

/** The number in the next temporary file's name: distinct for every write of this process. */
let nextTemporary = Date.now();

/** A new name for the temporary file writeFileAtomic writes before placing it at `path`. */
const temporaryFor = (path: string) => `${path}.tmp-${Deno.pid}-${nextTemporary++}`;

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

/**
 * Writes `data` to `path` atomically: a new temporary file beside it, then a
 * rename. The temporary file is created new (a file or symlink planted at its
 * name is never opened), and the rename replaces whatever `path` is, a
 * symlink included, without writing through it. With `createNew`, a file at
 * `path` is never replaced, not even one that appears while `data` is being
 * written: the file is placed by a hard link, which fails if the name is
 * taken (an AlreadyExists error); where the file system has no hard links it
 * is written in place, created new.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { createNew?: boolean } = {},
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const tmp = await writeTemporary(path, bytes);
  try {
    if (!options.createNew) return await Deno.rename(tmp, path);
    try {
      await Deno.link(tmp, path);
    } catch (e) {
      if (!(e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotSupported)) throw e;
      await writeNew(path, bytes); // no hard links on this file system (FAT, some network shares)
    }
  } finally {
    await Deno.remove(tmp).catch(() => {}); // after a rename there is nothing left to remove
  }
}

/** Writes `bytes` into a new temporary file for `path` (under a fresh name if one is taken); returns its path. */
async function writeTemporary(path: string, bytes: Uint8Array): Promise<string> {
  for (let attempt = 1;; attempt++) {
    const tmp = temporaryFor(path);
    try {
      await writeNew(tmp, bytes);
      return tmp;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists) || attempt === 5) throw e;
    }
  }
}

/** Writes `bytes` to `path`, which must not exist (AlreadyExists); what a failed write left is removed. */
async function writeNew(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await Deno.writeFile(path, bytes, { createNew: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) await Deno.remove(path).catch(() => {});
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

/** What a file that is not JSON text looks like, from its first bytes: a PNG image, an ONNX model, ... */
const SIGNATURES: readonly { readonly kind: string; readonly test: (b: Uint8Array) => boolean }[] = [
  { kind: "a PNG image", test: (b) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v) },
  { kind: "a JPEG image", test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { kind: "gzip data", test: (b) => b[0] === 0x1f && b[1] === 0x8b },
  { kind: "an idx file", test: (b) => b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] >= 0x08 && b[3] >= 1 },
  // An ONNX ModelProto opens with its ir_version (field 1, a small varint), then another field of the model.
  {
    kind: "an ONNX model",
    test: (b) => b[0] === 0x08 && b[1] >= 1 && b[1] < 0x80 && [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42].includes(b[2]),
  },
];

/**
 * What `bytes` are when they cannot be JSON text: "a PNG image", "an ONNX
 * model", "binary data (...)"; null for UTF-8 text with no control
 * character JSON forbids.
 */
function binaryKind(bytes: Uint8Array): string | null {
  const known = SIGNATURES.find((s) => s.test(bytes));
  if (known) return known.kind;
  const control = bytes.findIndex((b) => b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
  if (control >= 0) return `binary data (byte ${control} is 0x${bytes[control].toString(16).padStart(2, "0")})`;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return null;
  } catch {
    return "binary data (not UTF-8 text)";
  }
}

/** `text` with control, format and lone surrogate characters written as \uXXXX, so a message prints as it reads. */
function printable(text: string): string {
  const escape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|\p{Cs}/gu, escape);
}

/**
 * Reads a JSON file, with errors that name it: anything but a regular file,
 * and files over MAX_JSON_BYTES, are refused unread; a file that is not
 * JSON text is named for what it looks like (`it is a PNG image, not JSON`).
 */
export async function readJSONFile(path: string): Promise<unknown> {
  const bytes = await readFileBounded(path, MAX_JSON_BYTES, (problem) => {
    throw new Error(`Cannot read "${path}": ${problem}`);
  });
  const kind = binaryKind(bytes);
  if (kind) throw new SyntaxError(`Cannot parse "${path}": it is ${kind}, not JSON`);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new SyntaxError(`Cannot parse "${path}": ${printable((e as Error).message)}`);
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
