/**
 * Seeded fuzzing of every reader of outside data (issue 13): idx files
 * (plain and gzip), images (PNG, PGM, idx), graphs, model files and
 * checkpoints, each mutated at random from valid ones. The seeds are fixed,
 * so a failure names its seed and case and reproduces.
 *
 * What counts as a correct outcome (the documented contract of each reader):
 * - idx (`parseIdx`, `gunzipIdx`, `readIdxFile`): the file decoded exactly as
 *   an independent decoder here reads it (type, magic, dims, every value), or
 *   an `IdxError` whose message starts `Cannot read idx file "<source>"`. A
 *   file the independent decoder finds valid must decode.
 * - images (`readImages`): `count * rows * cols` grey bytes, or an
 *   `ImageError` (an `IdxError` for idx content) whose message starts
 *   `Cannot read` and names the file. An unmutated file must decode.
 * - graphs (`buildModel`): a model that runs a sample forward, within
 *   `MAX_BUFFER_BYTES`, or a `GraphError` (a field or a limit) or a
 *   `RegistryError` (an unknown layer or loss type), both TypeErrors whose
 *   message starts `Cannot `.
 * - model files (`modelFromJSON`) and checkpoints (`loadCheckpoint`): a model
 *   whose parameters are the file's (finite, `count` of them) and, for a
 *   checkpoint, an optimizer whose state has the kind and size its own rule
 *   creates; or a TypeError, RangeError or SyntaxError (GraphError and
 *   RegistryError are TypeErrors) whose message starts `Cannot ` (the
 *   library's style: `Cannot load ...`, `Cannot resume from ...`,
 *   `Cannot build ...`, `Cannot parse ...`, `Cannot find registered ...`).
 * - checkpoints that load (issue 26) also survive what a resumed run does
 *   with them: the report before a pass (formatRecipe, settingsRows,
 *   stalledWarning, the curves and index.html written to a folder), one more
 *   pass of `fit` from the loaded state (on a few patterns of the model's
 *   size), which completes or stops with a DivergenceError (training judged
 *   the weights and state, and says so), and after it the report again and
 *   a checkpoint that loads again. The mutations aim at every field the
 *   checkpoint rules cover: settings (deviations, kernels, curvature loss,
 *   batch), pass records, loss-curve points and length, optimizer state
 *   values (negative or huge h_kk and second moments).
 *
 * Never another exception; bounded work: no call inflates more than one
 * slice of compressed input can (8 MiB), and every model that builds or
 * loads holds buffers within `MAX_BUFFER_BYTES`. Asynchronous calls race a
 * timer, so a hang fails rather than stalls the suite.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { type Checkpoint, checkpointPath, loadCheckpoint, saveCheckpoint } from "../cli/_run.ts";
import {
  fitOptionsOf,
  formatRecipe,
  optimizerSpecOf,
  type RunSettings,
  settingsRows,
  splitOptimizer,
} from "../presets/recipe.ts";
import { gunzipIdx, IdxError, inflatedBytes, MAX_IDX_BYTES, parseIdx } from "../data/idx.ts";
import { readIdxFile } from "../data/idx_file.ts";
import { DEFAULT_DISTORTION } from "../data/distort.ts";
import type { Split } from "../data/mnist.ts";
import { PAPER_PREPROCESS } from "../data/preprocess.ts";
import { stalledWarning } from "../cli/train.ts";
import { writeCurves, writeIndex } from "../report/report.ts";
import { ImageError, readImages } from "../data/images.ts";
import { DivergenceError, fit, type FitState, type PassResult } from "../engine/fit.ts";
import { MAX_BUFFER_BYTES } from "../engine/limits.ts";
import { buildModel, type GraphSpec, type Model } from "../engine/model.ts";
import { floatsToBase64, modelFromJSON, modelToJSON } from "../engine/model_file.ts";
import { RegistryError } from "../engine/registry.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, type Optimizer } from "../engine/train.ts";
import { GraphError } from "../engine/types.ts";
import { PRESETS } from "../presets/presets.ts";
import { chunk, compress, concat, idxFile, png, withTempDir } from "./_files.ts";

/** How long an asynchronous call may run before it counts as hung (it stops the test, it measures nothing). */
const HANG_MS = 60_000;
/** The most bytes one call may inflate: what one 8 KiB slice of compressed input (data/idx.ts) inflates to at most. */
const INFLATE_LIMIT = 1032 * 8192;

// ---------------------------------------------------------------------------
// Guards: hangs and work

class HangError extends Error {}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Runs `fn` (racing a timer when it is asynchronous), then checks the bytes it inflated. */
async function guarded<T>(where: string, fn: () => T | Promise<T>): Promise<Outcome<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangError()), HANG_MS);
  });
  const inflated = inflatedBytes();
  let outcome: Outcome<T>;
  try {
    outcome = { ok: true, value: await Promise.race([Promise.resolve().then(fn), hang]) };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
  if (!outcome.ok && outcome.error instanceof HangError) assert.fail(`${where}: still running after ${HANG_MS} ms`);
  const work = inflatedBytes() - inflated;
  assert.ok(work <= INFLATE_LIMIT, `${where}: inflated ${work} bytes, over ${INFLATE_LIMIT}`);
  return outcome;
}

/** Fails with the error's kind, message and stack when it is not a documented one. */
function expectDocumented(error: unknown, where: string, documented: (e: Error) => boolean): void {
  if (error instanceof Error && documented(error)) return;
  const e = error as Error;
  assert.fail(`${where}: unexpected ${e?.constructor?.name ?? typeof e} (${e?.name}): ${e?.message}\n${e?.stack}`);
}

/** A TypeError, RangeError or SyntaxError (GraphError, RegistryError included) in the library's "Cannot ..." style. */
const cannot = (e: Error) =>
  (e instanceof TypeError || e instanceof RangeError || e instanceof SyntaxError) && e.message.startsWith("Cannot ");

// ---------------------------------------------------------------------------
// Random values and mutations

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)];

/** Random bytes. */
const randomBytes = (rng: Rng, n: number) => Uint8Array.from({ length: n }, () => rng.int(256));

/** Values that break things: wrong kinds, negatives, over every limit; and small sizes. */
const VALUES: readonly unknown[] = [
  ...[null, true, false, 0, -1, 1, 2, 3, 5, 6, 10, 16, 84, 120, 0.5, -0.5, 1.5],
  ...[1e9, -1e9, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 1e300, 65537, 16385, 1025],
  ...["", "x", "1", "5", "conv2d", "relu", "map", "paper", "1e9", [], {}],
];
const FIELD_NAMES = [
  "type",
  "name",
  "units",
  "maps",
  "kernel",
  "size",
  "stride",
  "padding",
  "codes",
  "table",
  "j",
  "x",
];

/** A random JSON value: mostly from VALUES, sometimes a list or an object of them. */
function randomValue(rng: Rng, depth = 0): unknown {
  const k = rng.int(10);
  if (k < 7 || depth > 2) return structuredClone(pick(rng, VALUES));
  if (k < 9) return Array.from({ length: rng.int(5) }, () => randomValue(rng, depth + 1));
  return Object.fromEntries(
    Array.from({ length: rng.int(4) }, () => [pick(rng, FIELD_NAMES), randomValue(rng, depth + 1)]),
  );
}

type Container = Record<string, unknown> | unknown[];
interface Slot {
  readonly parent: Container;
  readonly key: string | number;
  readonly path: string;
}

const isContainer = (v: unknown): v is Container => v !== null && typeof v === "object";

/** Every (container, key) pair under `root`. */
function slots(root: unknown, path = "", out: Slot[] = []): Slot[] {
  if (!isContainer(root)) return out;
  const keys: (string | number)[] = Array.isArray(root) ? root.map((_, i) => i) : Object.keys(root);
  for (const key of keys) {
    const child = (root as Record<string, unknown>)[key];
    const p = path ? `${path}.${key}` : String(key);
    out.push({ parent: root, key, path: p });
    slots(child, p, out);
  }
  return out;
}

const getSlot = (s: Slot) => (s.parent as Record<string, unknown>)[s.key];
const setSlot = (s: Slot, v: unknown) => (s.parent as Record<string, unknown>)[s.key] = v;
const show = (v: unknown) => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};

/** One random structural change to JSON data; returns what it did. */
function mutateJson(rng: Rng, root: Record<string, unknown>, candidates = slots(root)): string {
  const layers = Array.isArray(root.layers) ? root.layers : undefined;
  const op = rng.int(layers ? 10 : 7);
  if (candidates.length === 0) return "nothing";
  const s = pick(rng, candidates);
  const old = getSlot(s);
  switch (op) {
    case 0:
    case 1: {
      const v = randomValue(rng);
      setSlot(s, v);
      return `${s.path} = ${show(v)}`;
    }
    case 2:
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete s.parent[s.key as string];
      return `delete ${s.path}`;
    case 3: {
      const objects = [root, ...candidates.map(getSlot).filter((v) => isContainer(v) && !Array.isArray(v))] as Record<
        string,
        unknown
      >[];
      const o = pick(rng, objects), name = pick(rng, [...FIELD_NAMES, "unknownField", "__proto__", "constructor"]);
      const v = randomValue(rng);
      Object.defineProperty(o, name, { value: v, enumerable: true, writable: true, configurable: true });
      return `add ${name} = ${show(v)}`;
    }
    case 4:
      if (typeof old === "number") {
        const v = pick(rng, [old + 1, old - 1, old * 2, Math.floor(old / 2), -old, old + 0.5]);
        setSlot(s, v);
        return `${s.path} = ${v} (was ${old})`;
      }
      setSlot(s, [old]);
      return `${s.path} wrapped in a list`;
    case 5:
      setSlot(s, typeof old === "number" ? String(old) : isContainer(old) ? JSON.stringify(old) : 7);
      return `${s.path} as a ${typeof getSlot(s)}`;
    case 6: {
      if (typeof old === "string") {
        const v = mutateText(rng, old, 1 + rng.int(3));
        setSlot(s, v);
        return `${s.path} text mutated`;
      }
      setSlot(s, null);
      return `${s.path} = null`;
    }
    case 7: {
      const i = rng.int(layers!.length), layer = layers![i];
      const type = pick(rng, [...defaultRegistry.layers.types(), "", "Conv2d", "dense", 7, null]);
      if (isContainer(layer) && !Array.isArray(layer)) layer.type = type;
      return `layers.${i}.type = ${show(type)}`;
    }
    case 8: {
      const i = rng.int(layers!.length);
      if (rng.next() < 0.5) {
        layers!.splice(i, 1);
        return `remove layer ${i}`;
      }
      layers!.splice(i, 0, structuredClone(layers![i]));
      return `duplicate layer ${i}`;
    }
    default: {
      const i = rng.int(layers!.length), j = rng.int(layers!.length);
      [layers![i], layers![j]] = [layers![j], layers![i]];
      return `swap layers ${i} and ${j}`;
    }
  }
}

const TEXT_CHARS = '{}[]",:0123456789-.eE +tfnul\\/aA=!';

/** `n` random character edits: replace, insert, delete or duplicate. */
function mutateText(rng: Rng, text: string, n: number, at?: () => number): string {
  for (let k = 0; k < n; k++) {
    const i = at ? at() : rng.int(text.length + 1);
    const c = TEXT_CHARS[rng.int(TEXT_CHARS.length)];
    const op = rng.int(4);
    if (op === 0) text = text.slice(0, i) + c + text.slice(i + 1);
    else if (op === 1) text = text.slice(0, i) + c + text.slice(i);
    else if (op === 2) text = text.slice(0, i) + text.slice(i + 1);
    else text = text.slice(0, i) + text.slice(i, i + 1 + rng.int(8)) + text.slice(i);
  }
  return text;
}

/** One random change to bytes; `head` bytes at the start are hit more often. */
function mutateBytes(rng: Rng, bytes: Uint8Array, head: number): { bytes: Uint8Array; what: string } {
  const op = rng.int(6);
  const at = () => (rng.next() < 0.6 ? rng.int(Math.max(1, Math.min(head, bytes.length))) : rng.int(bytes.length));
  if (bytes.length === 0 || op === 4) {
    return { bytes: concat(bytes, randomBytes(rng, 1 + rng.int(16))), what: "append" };
  }
  const out = bytes.slice();
  if (op === 0 || op === 1) {
    const i = at();
    out[i] ^= 1 << rng.int(8);
    return { bytes: out, what: `flip bit at ${i}` };
  }
  if (op === 2) {
    const i = at();
    out[i] = pick(rng, [0, 1, 0x7f, 0x80, 0xff, rng.int(256)]);
    return { bytes: out, what: `set byte ${i} = ${out[i]}` };
  }
  if (op === 3) {
    const n = rng.int(bytes.length);
    return { bytes: bytes.slice(0, n), what: `truncate to ${n}` };
  }
  const i = at(), n = 1 + rng.int(8);
  return { bytes: concat(bytes.subarray(0, i), bytes.subarray(i + n)), what: `delete ${n} at ${i}` };
}

/** Bytes of a typed array. */
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

// ---------------------------------------------------------------------------
// 1. idx files

const IDX_TYPES: Record<number, { name: string; bytes: number; get: (v: DataView, at: number) => number }> = {
  0x08: { name: "uint8", bytes: 1, get: (v, at) => v.getUint8(at) },
  0x09: { name: "int8", bytes: 1, get: (v, at) => v.getInt8(at) },
  0x0b: { name: "int16", bytes: 2, get: (v, at) => v.getInt16(at) },
  0x0c: { name: "int32", bytes: 4, get: (v, at) => v.getInt32(at) },
  0x0d: { name: "float32", bytes: 4, get: (v, at) => v.getFloat32(at) },
  0x0e: { name: "float64", bytes: 8, get: (v, at) => v.getFloat64(at) },
};

interface Decoded {
  type: string;
  magic: number;
  dims: number[];
  values: number[];
}

/** The idx format read independently of data/idx.ts: the decoded file, or null when it is not a valid one. */
function referenceIdx(bytes: Uint8Array, expectMagic?: number): Decoded | null {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[3] === 0) return null;
  const type = IDX_TYPES[bytes[2]], rank = bytes[3];
  if (type === undefined || bytes.length < 4 + 4 * rank) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (expectMagic !== undefined && magic !== expectMagic) return null;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (4 + 4 * rank + count * type.bytes !== bytes.length || bytes.length > MAX_IDX_BYTES) return null;
  const values = Array.from({ length: count }, (_, i) => type.get(view, 4 + 4 * rank + i * type.bytes));
  return { type: type.name, magic, dims, values };
}

/** Asserts that a successful decode is exactly the reference's. */
function assertSameIdx(
  got: { type: string; magic: number; dims: readonly number[]; data: ArrayLike<number> },
  want: Decoded,
  where: string,
) {
  assert.equal(got.type, want.type, where);
  assert.equal(got.magic, want.magic, where);
  assert.deepEqual([...got.dims], want.dims, where);
  assert.equal(got.data.length, want.values.length, `${where}: data length is the product of the dims`);
  for (let i = 0; i < want.values.length; i++) {
    if (!Object.is(got.data[i], want.values[i])) {
      assert.fail(`${where}: value ${i} is ${got.data[i]}, expected ${want.values[i]}`);
    }
  }
}

/** Fully inflates gzip data with the platform's decompressor (small inputs only), or null when it is corrupt. */
async function inflateAll(bytes: Uint8Array): Promise<Uint8Array | null> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch {
    return null;
  }
}

/** A small valid idx file of a random kind. */
function baseIdx(rng: Rng): Uint8Array {
  const [code, dims] = pick(rng, [
    ...[[0x08, [3, 28, 28]], [0x08, [3]], [0x08, [2, 4, 4]], [0x09, [5, 1]], [0x0b, [2, 5]], [0x0c, [7]]],
    ...[[0x0d, [4, 3]], [0x0e, [2, 2, 2]], [0x08, [1, 1, 1, 1]]],
  ] as [number, number[]][]);
  const n = dims.reduce((a, b) => a * b, 1) * IDX_TYPES[code].bytes;
  return idxFile(code, dims, randomBytes(rng, n));
}

/** Random changes aimed at the header of an idx file: bits, dims, type, rank, length. */
function mutateIdx(rng: Rng, bytes: Uint8Array): { bytes: Uint8Array; what: string[] } {
  const what: string[] = [];
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const rank = bytes.length >= 4 ? bytes[3] : 0;
    const op = rng.int(8);
    if (op === 0 && bytes.length >= 8) {
      const i = rng.int(Math.min(rank, (bytes.length - 4) >> 2) || 1);
      const d = pick(rng, [0, 1, 2, 0xffffffff, 0x80000000, 2 ** 30, 2 ** 24, 65536, rng.nextUint32()]);
      bytes = bytes.slice();
      new DataView(bytes.buffer).setUint32(4 + 4 * i, d);
      what.push(`dim ${i} = ${d}`);
    } else if (op === 1 && bytes.length >= 4) {
      bytes = bytes.slice();
      bytes[2] = pick(rng, [0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e, 0, 0x0a, rng.int(256)]);
      what.push(`type 0x${bytes[2].toString(16)}`);
    } else if (op === 2 && bytes.length >= 4) {
      bytes = bytes.slice();
      bytes[3] = pick(rng, [0, 1, 2, 3, 4, 255, rng.int(256)]);
      what.push(`rank ${bytes[3]}`);
    } else {
      const m = mutateBytes(rng, bytes, 4 + 4 * rank);
      bytes = m.bytes;
      what.push(m.what);
    }
  }
  return { bytes, what };
}

Deno.test("fuzz: mutated idx files, plain and gzip, decode exactly or fail with an IdxError", async () => {
  const SEED = 1301, CASES = 500;
  const rng = new Rng(SEED);
  let decoded = 0, refused = 0;
  await withTempDir(async (dir) => {
    for (let c = 0; c < CASES; c++) {
      const base = baseIdx(rng);
      const magic = new DataView(base.buffer).getUint32(0);
      const expectMagic = rng.next() < 0.25 ? magic : undefined;
      let { bytes, what } = rng.next() < 0.1 ? { bytes: base, what: ["unmutated"] } : mutateIdx(rng, base);
      const gzip = rng.next() < 0.5;
      let want: Decoded | null;
      if (gzip) {
        const plain = bytes;
        bytes = await compress("gzip", plain);
        if (rng.next() < 0.4) {
          const m = mutateBytes(rng, bytes, 10);
          bytes = m.bytes;
          what = [...what, `gzip: ${m.what}`];
        }
        const inflated = await inflateAll(bytes);
        want = inflated && referenceIdx(inflated, expectMagic);
      } else {
        want = referenceIdx(bytes, expectMagic);
      }
      const fromFile = rng.next() < 0.125;
      const source = fromFile ? join(dir, `case${c}`) : `case${c}`;
      if (fromFile) await Deno.writeFile(source, bytes);
      const where = `idx seed ${SEED} case ${c} (${gzip ? "gzip" : "plain"}${fromFile ? ", file" : ""}; ${
        what.join("; ")
      }${expectMagic !== undefined ? `; expect magic ${expectMagic}` : ""})`;
      const input = bytes;
      const outcome = await guarded(
        where,
        () =>
          fromFile
            ? readIdxFile(source, expectMagic)
            : gzip
            ? gunzipIdx(input, source, expectMagic)
            : parseIdx(input, source, expectMagic),
      );
      if (outcome.ok) {
        assert.ok(want, `${where}: decoded a file that is not valid idx`);
        assertSameIdx(outcome.value, want, where);
        decoded++;
      } else {
        expectDocumented(
          outcome.error,
          where,
          (e) => e instanceof IdxError && e.message.startsWith(`Cannot read idx file "${source}": `),
        );
        assert.equal(want, null, `${where}: refused a valid file: ${(outcome.error as Error).message}`);
        refused++;
      }
    }
  });
  assert.ok(decoded >= CASES / 20 && refused >= CASES / 2, `decoded ${decoded}, refused ${refused}`);
});

// ---------------------------------------------------------------------------
// 2. images

/** A PNG with a palette: IHDR, PLTE, IDAT, IEND. */
function palettePng(width: number, height: number, entries: number, idat: Uint8Array): Uint8Array {
  const base = png(width, height, 8, 3, [idat]);
  return concat(
    base.subarray(0, 33),
    chunk("PLTE", Uint8Array.from({ length: 3 * entries }, (_, i) => i * 37)),
    base.subarray(33),
  );
}

/** Raw PNG rows: each a random filter type then random samples. */
function pngRows(rng: Rng, height: number, stride: number): Uint8Array {
  const raw = randomBytes(rng, height * (stride + 1));
  for (let y = 0; y < height; y++) raw[y * (stride + 1)] = rng.int(5);
  return raw;
}

interface ImageBase {
  readonly kind: "png" | "pgm" | "idx";
  readonly bytes: Uint8Array;
}

async function imageBases(rng: Rng): Promise<ImageBase[]> {
  const enc = new TextEncoder();
  const deflate = (raw: Uint8Array) => compress("deflate", raw);
  // Filter type 0 (none), so that every pixel is one of the 3 palette entries.
  const paletteRaw = pngRows(rng, 2, 4).map((v, i) => (i % 5 === 0 ? 0 : v % 3));
  const rgb = await deflate(pngRows(rng, 3, 9));
  return [
    { kind: "png", bytes: png(6, 5, 8, 0, [await deflate(pngRows(rng, 5, 6))]) },
    { kind: "png", bytes: png(3, 4, 8, 6, [await deflate(pngRows(rng, 4, 12))]) },
    { kind: "png", bytes: png(2, 3, 16, 4, [await deflate(pngRows(rng, 3, 8))]) },
    { kind: "png", bytes: png(3, 3, 8, 2, [rgb.subarray(0, 10), rgb.subarray(10)]) },
    { kind: "png", bytes: palettePng(4, 2, 3, await deflate(paletteRaw)) },
    { kind: "pgm", bytes: concat(enc.encode("P5\n# a comment\n5 4\n255\n"), randomBytes(rng, 20)) },
    {
      kind: "pgm",
      bytes: concat(enc.encode("P5 3 2 1000\n"), randomBytes(rng, 12).map((v, i) => (i % 2 ? v : v & 3))),
    },
    { kind: "pgm", bytes: enc.encode("P2\n4 3\n15\n0 1 2 3\n4 5 6 7\n8 9 10 15\n") },
    { kind: "idx", bytes: idxFile(8, [2, 4, 4], randomBytes(rng, 32)) },
    { kind: "idx", bytes: await compress("gzip", idxFile(8, [5, 3], randomBytes(rng, 15))) },
  ];
}

const PGM_NUMBERS = ["0", "-1", "1", "65535", "65536", "99999999", "4294967297", "9".repeat(40), "", "x", "1e9"];

/** Random changes to an image file: its header fields, its bytes, its length. */
function mutateImage(rng: Rng, base: ImageBase): { bytes: Uint8Array; what: string[] } {
  let bytes = base.bytes;
  const what: string[] = [];
  for (let k = 1 + rng.int(2); k > 0; k--) {
    const op = rng.int(3);
    if (op === 0 && base.kind === "png" && bytes.length >= 33) {
      bytes = bytes.slice();
      const view = new DataView(bytes.buffer);
      const field = pick(rng, ["width", "height", "depth", "colour", "interlace", "length"] as const);
      if (field === "width" || field === "height") {
        const v = pick(rng, [0, 1, 2, 3, 100, 8192, 8193, 65536, 0x7fffffff, 0xffffffff, rng.nextUint32()]);
        view.setUint32(field === "width" ? 16 : 20, v);
        what.push(`${field} ${v}`);
      } else if (field === "length") {
        const at = pick(rng, [8, 33]), v = pick(rng, [0, 1, 12, 13, 14, 0x7fffffff, 0xffffffff]);
        view.setUint32(at, v);
        what.push(`chunk length at ${at} = ${v}`);
      } else {
        const at = { depth: 24, colour: 25, interlace: 28 }[field];
        bytes[at] = pick(rng, field === "depth" ? [0, 1, 2, 8, 16, 255] : [0, 1, 2, 3, 4, 6, 7, 255]);
        what.push(`${field} ${bytes[at]}`);
      }
    } else if (op === 0 && base.kind === "pgm") {
      const text = new TextDecoder("latin1").decode(bytes);
      const numbers = [...text.slice(0, 24).matchAll(/\d+/g)];
      if (numbers.length > 0) {
        const m = pick(rng, numbers), v = pick(rng, PGM_NUMBERS);
        bytes = concat(
          bytes.subarray(0, m.index!),
          new TextEncoder().encode(v),
          bytes.subarray(m.index! + m[0].length),
        );
        what.push(`header number ${m[0]} -> ${JSON.stringify(v)}`);
      }
    } else if (op === 0 && base.kind === "idx") {
      const m = mutateIdx(rng, bytes);
      bytes = m.bytes;
      what.push(...m.what);
    } else {
      const m = mutateBytes(rng, bytes, base.kind === "png" ? 41 : 16);
      bytes = m.bytes;
      what.push(m.what);
    }
  }
  return { bytes, what };
}

Deno.test("fuzz: mutated PNG, PGM and idx images decode to count x rows x cols bytes or fail with an ImageError", async () => {
  const SEED = 1302, CASES = 150;
  const rng = new Rng(SEED);
  const bases = await imageBases(rng);
  let decoded = 0, refused = 0;
  await withTempDir(async (dir) => {
    for (const [b, base] of bases.entries()) {
      await Deno.writeFile(join(dir, "base"), base.bytes);
      const { images, count, rows, cols } = await readImages(join(dir, "base"));
      assert.equal(images.length, count * rows * cols, `base ${b} decodes`);
    }
    for (let c = 0; c < CASES; c++) {
      const b = rng.int(bases.length), base = bases[b];
      const valid = rng.next() < 0.1;
      const { bytes, what } = valid ? { bytes: base.bytes, what: ["unmutated"] } : mutateImage(rng, base);
      const invert = rng.next() < 0.3;
      const path = join(dir, `image${c}`);
      await Deno.writeFile(path, bytes);
      const where = `images seed ${SEED} case ${c} (${base.kind} base ${b}${invert ? ", invert" : ""}; ${
        what.join("; ")
      })`;
      const outcome = await guarded(where, () => readImages(path, { invert }));
      if (outcome.ok) {
        const { images, count, rows, cols } = outcome.value;
        assert.ok(images instanceof Uint8Array, where);
        assert.ok(
          [count, rows, cols].every((n) => Number.isInteger(n) && n >= 1),
          `${where}: ${count}x${rows}x${cols}`,
        );
        assert.equal(images.length, count * rows * cols, `${where}: ${count} x ${rows} x ${cols} bytes`);
        decoded++;
      } else {
        expectDocumented(
          outcome.error,
          where,
          (e) =>
            (e instanceof ImageError || e instanceof IdxError) && e.message.startsWith("Cannot read") &&
            e.message.includes(path),
        );
        assert.ok(!valid, `${where}: refused a valid image: ${(outcome.error as Error).message}`);
        refused++;
      }
    }
  });
  assert.ok(decoded >= 10 && refused >= CASES / 3, `decoded ${decoded}, refused ${refused}`);
});

// ---------------------------------------------------------------------------
// 3. graphs

const SMALL_GRAPHS: GraphSpec[] = [
  { input: [4], layers: [{ type: "full", units: 3 }, { type: "tanh" }], loss: { type: "softmax-cross-entropy" } },
  {
    input: [2, 8, 8],
    init: "glorot-uniform",
    layers: [
      { type: "conv2d", maps: 3, kernel: 3, padding: 1, table: [[1, 0, 1], [0, 1, 1]] },
      { type: "avgpool", size: 2 },
      { type: "subsample", size: 2, stride: 2 },
      { type: "squash", A: 1, S: 1 },
      { type: "flatten" },
      { type: "full", units: 3 },
      { type: "rbf", codes: [[1, -1, 1], "010", "1 1 0"] },
    ],
    loss: { type: "mse-rbf" },
  },
];

const GRAPH_BASES: GraphSpec[] = [
  PRESETS.lenet5.graph,
  PRESETS["lenet5-literal"].graph,
  PRESETS["lenet5-modern"].graph,
  ...SMALL_GRAPHS,
];

/** Checks that a model holds buffers within MAX_BUFFER_BYTES: what building or loading it may allocate. */
function assertBounded(model: Model, where: string): void {
  const values = model.inputSize + model.layers.reduce((n, l) => n + l.outSize, 0);
  const bytes = (model.params.length + 2 * model.trainableCount + 3 * values) * 4;
  assert.ok(bytes <= MAX_BUFFER_BYTES, `${where}: built a model of ${bytes} bytes of buffers`);
}

/** Checks a model that built: its buffers within the limit, and a sample runs through it. */
function checkBuilt(model: Model, where: string): void {
  assertBounded(model, where);
  const scores = model.forward(new Float32Array(model.inputSize), 1);
  assert.equal(scores.length, model.classes, where);
}

Deno.test("fuzz: mutated graphs build or fail with a GraphError (or a RegistryError for an unknown type)", async () => {
  const SEED = 1303, CASES = 500;
  const rng = new Rng(SEED);
  let built = 0, refused = 0, unparsable = 0;
  for (let c = 0; c < CASES; c++) {
    const b = rng.int(GRAPH_BASES.length);
    let graph: unknown = structuredClone(GRAPH_BASES[b]);
    let what: string[];
    if (rng.next() < 0.3) {
      const text = mutateText(rng, JSON.stringify(graph), 1 + rng.int(3));
      what = [`text ${JSON.stringify(text.length > 400 ? text.slice(0, 400) + "..." : text)}`];
      try {
        graph = JSON.parse(text);
      } catch (e) {
        assert.ok(e instanceof SyntaxError);
        unparsable++;
        continue;
      }
    } else {
      what = Array.from({ length: 1 + rng.int(3) }, () => mutateJson(rng, graph as Record<string, unknown>));
    }
    const where = `graph seed ${SEED} case ${c} (base ${b}; ${what.join("; ")})`;
    const outcome = await guarded(where, () => {
      const model = buildModel(graph as GraphSpec, { registry: defaultRegistry, seed: c });
      checkBuilt(model, where);
      return model;
    });
    if (outcome.ok) built++;
    else {
      expectDocumented(
        outcome.error,
        where,
        (e) => (e instanceof GraphError || e instanceof RegistryError) && e.message.startsWith("Cannot "),
      );
      refused++;
    }
  }
  assert.ok(built >= 10 && refused >= CASES / 3 && unparsable < CASES / 3, `built ${built}, refused ${refused}`);
});

// ---------------------------------------------------------------------------
// 4. model files

/** The float32 values base64 text holds (little-endian), decoded here independently of the library. */
function decodeFloats(text: string): Float32Array {
  const s = atob(text);
  const bytes = Uint8Array.from(s, (ch) => ch.charCodeAt(0));
  return new Float32Array(bytes.buffer.slice(0, bytes.length - (bytes.length % 4)));
}

const B64_CHARS = "AZaz09+/=!-_ \n\u00e9";

/** One random change to base64 text: a character, the length, or the whole text. */
function mutateBase64(rng: Rng, text: string): { text: string; what: string } {
  const op = rng.int(5);
  if (op <= 1) {
    const i = rng.int(text.length), c = B64_CHARS[rng.int(B64_CHARS.length)];
    return { text: text.slice(0, i) + c + text.slice(i + 1), what: `char ${i} = ${JSON.stringify(c)}` };
  }
  if (op === 2) {
    const n = rng.int(text.length);
    return { text: text.slice(0, n), what: `truncated to ${n}` };
  }
  if (op === 3) {
    const tail = pick(rng, ["A", "AA==", "AAAA", "AAAAAAAA", "////", "=", "!"]);
    return { text: text + tail, what: `${tail} appended` };
  }
  const whole = pick(rng, ["", "AAAA", "not base64", "A".repeat(4 * 1000)]);
  return { text: whole, what: `replaced by ${JSON.stringify(whole.slice(0, 12))}` };
}

Deno.test("fuzz: mutated model files load or fail with a TypeError, RangeError or SyntaxError saying Cannot", async () => {
  const SEED = 1304, CASES = 200;
  const rng = new Rng(SEED);
  const bases = [PRESETS["lenet5-modern"].graph, PRESETS.lenet5.graph].map((g) =>
    JSON.stringify(modelToJSON(buildModel(g, { registry: defaultRegistry, seed: 1 })))
  );
  let loaded = 0, refused = 0, unparsable = 0;
  for (let c = 0; c < CASES; c++) {
    const b = rng.int(bases.length);
    const data = JSON.parse(bases[b]) as Record<string, unknown>;
    const what: string[] = [];
    let file: unknown = data;
    for (let k = 1 + rng.int(2); k > 0; k--) {
      const op = rng.int(8);
      if (op <= 2 && typeof data.params === "string") {
        const m = mutateBase64(rng, data.params);
        data.params = m.text;
        what.push(`params ${m.what}`);
      } else if (op === 3) {
        const field = pick(rng, ["format", "version", "count", "params", "graph"]);
        if (rng.next() < 0.3) delete data[field];
        else {data[field] = field === "count" && rng.next() < 0.5
            ? (data.count as number) + pick(rng, [-1, 1, 1e9])
            : randomValue(rng);}
        what.push(`${field} = ${show(data[field])}`);
      } else if (op <= 5 && isContainer(data.graph) && !Array.isArray(data.graph)) {
        what.push(`graph: ${mutateJson(rng, data.graph)}`);
      } else {
        const text = JSON.stringify(data), edge = 3000;
        const at = () => (rng.next() < 0.5 ? rng.int(edge) : text.length - 1 - rng.int(edge));
        const mutated = mutateText(rng, text, 1 + rng.int(3), at);
        what.push("text mutated");
        try {
          file = JSON.parse(mutated);
        } catch (e) {
          assert.ok(e instanceof SyntaxError);
          file = undefined;
        }
        break;
      }
    }
    if (file === undefined) {
      unparsable++;
      continue;
    }
    const where = `model seed ${SEED} case ${c} (base ${b}; ${what.join("; ")})`;
    const outcome = await guarded(where, () => modelFromJSON(file, defaultRegistry, `"case${c}.json"`));
    if (outcome.ok) {
      const model = outcome.value, saved = file as Record<string, unknown>;
      assert.equal(model.params.length, saved.count, where);
      assert.deepEqual(
        bytesOf(model.params),
        bytesOf(decodeFloats(saved.params as string)),
        `${where}: the file's params`,
      );
      assert.ok(model.params.every(Number.isFinite), `${where}: finite params`);
      assertBounded(model, where);
      loaded++;
    } else {
      expectDocumented(outcome.error, where, cannot);
      refused++;
    }
  }
  assert.ok(loaded >= 5 && refused >= CASES / 2, `loaded ${loaded}, refused ${refused}, unparsable ${unparsable}`);
});

// ---------------------------------------------------------------------------
// 5. checkpoints

/**
 * Valid checkpoints written by the library, as the CLI writes them after a
 * pass (each field what `fit` records for such a run): Adam on
 * lenet5-modern, SDLM on lenet5 (with every optional setting, the
 * deviations and the kept h_kk), SGD with momentum on lenet5-modern after
 * two passes.
 */
async function writeBaseCheckpoints(dir: string): Promise<string[]> {
  const modern = PRESETS["lenet5-modern"], paper = PRESETS.lenet5;
  const pass = (n: number, extra: Partial<PassResult> = {}): PassResult => ({
    ...{ pass: n, lr: 0.001, loss: 0.25 / n, trainError: 0.05 / n, runningError: 0.06 / n, testError: 0.04 / n },
    ...{ seconds: 12.5, evalSeconds: 1.5, ...extra },
  });
  /** The settings of a run of preset `p`. */
  const presetRun = (p: typeof modern, seed: number) => ({
    ...{ source: p.name, graph: p.graph, optimizer: p.optimizer, passes: p.epochs, batch: p.batch },
    ...{ schedule: p.schedule, seed },
  });
  const curve = (...patterns: number[]) => patterns.map((p, i) => ({ patterns: p, loss: 0.5 / (i + 1) }));
  const runs: [RunSettings, FitState][] = [
    [
      { ...presetRun(modern, 0), curvatureSamples: 500, kernels: "js" },
      { passesDone: 1, steps: 1875, history: [pass(1)], lossCurve: curve(1024, 2048, 3072) },
    ],
    [{
      ...presetRun(paper, 3),
      optimizer: splitOptimizer(paper.optimizer, defaultRegistry).optimizer,
      limit: 3000,
      maxSteps: 5000,
      distort: DEFAULT_DISTORTION,
      shuffle: true,
      threads: 2,
      curvatureSamples: 100,
      curvatureMemory: 0.9,
      curvatureRate: 0.1,
      curvatureEvery: 10,
      curvatureLoss: "mse-rbf",
      deviations: paper.deviations,
    }, {
      passesDone: 1,
      steps: 3000,
      history: [pass(1, { lr: 0.0005, curvatureSeconds: 0.2, stepRange: [2e-5, 0.005] })],
      lossCurve: curve(1000, 2000, 3000),
    }],
    [{
      source: "lenet5-modern.json",
      graph: modern.graph,
      optimizer: { type: "sgd", lr: 0.01, momentum: 0.9 },
      passes: 3,
      batch: 16,
      seed: 1,
      curvatureSamples: 500,
    }, { passesDone: 2, steps: 7500, history: [pass(1), pass(2)], lossCurve: curve(1008, 2016, 60000, 61008) }],
  ];
  const rng = new Rng(7);
  const texts: string[] = [];
  for (const [settings, fit] of runs) {
    const model = buildModel(settings.graph, { registry: defaultRegistry, seed: settings.seed });
    const optimizer = createOptimizer(optimizerSpecOf(settings, defaultRegistry), model, defaultRegistry);
    for (const [k, v] of Object.entries(optimizer.state)) {
      if (typeof v === "number") optimizer.state[k] = 3;
      else v.forEach((_, i) => v[i] = rng.uniform(0, 1e-3));
    }
    if (settings.curvatureMemory) optimizer.state.curvature = new Float32Array(model.trainableCount).fill(0.5);
    await saveCheckpoint(dir, settings, model, optimizer, fit, 12.5);
    texts.push(await Deno.readTextFile(checkpointPath(dir)));
  }
  return texts;
}

/** Paths of a checkpoint worth aiming at. */
const CHECKPOINT_PATHS: readonly string[][] = [
  "format version settings settings.source settings.graph settings.graph.input settings.graph.layers",
  "settings.optimizer settings.optimizer.type settings.optimizer.lr settings.passes settings.batch settings.seed",
  "settings.schedule settings.limit settings.maxSteps settings.curvatureSamples settings.curvatureMemory",
  "settings.curvatureRate settings.curvatureEvery settings.curvatureLoss settings.distort settings.distort.scale",
  "settings.threads settings.shuffle settings.kernels settings.deviations settings.deviations.0",
  "settings.deviations.0.setting settings.deviations.0.value settings.deviations.1.why fit fit.passesDone fit.steps",
  "fit.history fit.history.0 fit.history.0.pass fit.history.0.lr fit.history.0.loss fit.history.0.trainError",
  "fit.history.0.runningError fit.history.0.seconds fit.history.0.stepRange fit.history.1.testError fit.lossCurve",
  "fit.lossCurve.0 fit.lossCurve.0.patterns fit.lossCurve.1.patterns fit.lossCurve.2.loss wallSeconds params",
  "optimizerState optimizerState.m optimizerState.m.count optimizerState.m.floats optimizerState.v.floats",
  "optimizerState.t optimizerState.velocity optimizerState.velocity.count optimizerState.curvature",
  "optimizerState.curvature.floats",
].join(" ").split(" ").map((p) => p.split("."));

/** The slot at `path`, when its parent exists. */
function slotAt(root: Record<string, unknown>, path: readonly string[]): Slot | undefined {
  let parent: unknown = root;
  for (const key of path.slice(0, -1)) {
    if (!isContainer(parent)) return undefined;
    parent = (parent as Record<string, unknown>)[key];
  }
  return isContainer(parent) ? { parent, key: path[path.length - 1], path: path.join(".") } : undefined;
}

/** Values that test the range of a field: the edges, just past them, and far past. */
const EDGE_NUMBERS = [0, -0, 1, -1, 0.999, 1.001, 64, 65, 999, 1000, 1001, 5165, 5166, 1e9, -1e30, 1e38, 3.4e38];

/** One random change aimed at a checkpoint's fields. */
function mutateCheckpoint(rng: Rng, data: Record<string, unknown>): string {
  const s = slotAt(data, pick(rng, CHECKPOINT_PATHS));
  if (s === undefined || rng.next() < 0.15) return mutateJson(rng, data);
  const old = getSlot(s);
  const op = rng.int(9);
  if (op === 0) {
    delete (s.parent as Record<string, unknown>)[s.key];
    return `delete ${s.path}`;
  }
  if (op === 1 && typeof old === "string" && old.length > 100) {
    const m = mutateBase64(rng, old);
    setSlot(s, m.text);
    return `${s.path} ${m.what}`;
  }
  if (op === 2) {
    // Optimizer state that is well-formed but of the wrong kind or size, or not the rule's.
    const v = pick(rng, [5, { floats: "", count: 0 }, { floats: floatsToBase64(new Float32Array(3)), count: 3 }]);
    const key = pick(rng, ["m", "v", "t", "curvature", "velocity", "extra"]);
    if (!isContainer(data.optimizerState)) return "nothing";
    (data.optimizerState as Record<string, unknown>)[key] = v;
    return `optimizerState.${key} = ${show(v)}`;
  }
  if (op === 3) {
    // A value of optimizer state out of its range: a negative or huge h_kk or second moment, a step count.
    const o = data.optimizerState as Record<string, { floats: string; count: number } | number> | undefined;
    const keys = isContainer(o) ? Object.keys(o) : [];
    if (keys.length === 0) return "nothing";
    const key = pick(rng, keys), v = pick(rng, [-1e30, -1, -1e-30, 0, 1e30, 3.4e38, 0.5, 1.5]);
    const state = o![key];
    if (typeof state === "number") {
      o![key] = v;
      return `optimizerState.${key} = ${v}`;
    }
    if (!isContainer(state) || typeof state.floats !== "string") return "nothing";
    const floats = decodeFloats(state.floats), i = rng.int(Math.max(1, floats.length));
    if (floats.length) floats[i] = v;
    state.floats = floatsToBase64(floats);
    return `optimizerState.${key}[${i}] = ${v}`;
  }
  if (op === 4) {
    // The loss curve: longer than any run records, out of order, or a point too close to the last.
    const f = data.fit as Record<string, unknown> | undefined;
    if (!isContainer(f) || !Array.isArray(f.lossCurve)) return "nothing";
    const points = f.lossCurve as { patterns: number; loss: number }[];
    const which = rng.int(3);
    if (which === 0) {
      const n = pick(rng, [2000, 20_000]);
      f.lossCurve = Array.from({ length: n }, (_, i) => ({ patterns: 1000 * (i + 1), loss: 1 / (i + 1) }));
      return `fit.lossCurve of ${n} points`;
    }
    if (which === 1) {
      points.reverse();
      return "fit.lossCurve reversed";
    }
    const last = points[points.length - 1]?.patterns ?? 0;
    points.push({ patterns: last + pick(rng, [1, 999, 1000, 1e9]), loss: 0.1 });
    return "fit.lossCurve point appended";
  }
  if (op === 5) {
    // A whole pass record changed at once: missing, empty, or one more.
    const f = data.fit as Record<string, unknown> | undefined;
    if (!isContainer(f) || !Array.isArray(f.history)) return "nothing";
    const v = pick(rng, [{}, null, "pass", { ...(f.history[0] as object), pass: 2 }]);
    f.history[rng.int(f.history.length)] = v;
    return `fit.history entry = ${show(v)}`;
  }
  const v = op <= 7 && typeof old === "number"
    ? pick(rng, [String(old), -old, old + 1, old * 1e9, ...EDGE_NUMBERS])
    : randomValue(rng);
  setSlot(s, v);
  return `${s.path} = ${show(v)}`;
}

/** A split of `count` images for `model`'s input (rows, cols as the paper's padding needs), or null when it takes none. */
function splitFor(model: Model, count: number, seed: number): Split | null {
  const shape = model.inputShape, pad = PAPER_PREPROCESS.pad;
  if (shape.length !== 3 || shape[0] !== 1 || shape[1] <= 2 * pad || shape[2] <= 2 * pad) return null;
  const rows = shape[1] - 2 * pad, cols = shape[2] - 2 * pad, rng = new Rng(seed);
  const images = Uint8Array.from({ length: count * rows * cols }, () => rng.int(256));
  return { images, labels: Uint8Array.from({ length: count }, (_, i) => i % model.classes), count, rows, cols };
}

/** What a resumed run's report does with its state: the recipe, the settings, the warnings, the charts and the page. */
async function reportOn(
  dir: string,
  settings: RunSettings,
  optimizer: Optimizer,
  state: FitState,
  classes: number,
  count: number,
) {
  const warnings = state.history.flatMap((h) => stalledWarning(h, classes, settings) ?? []);
  await writeCurves(dir, state, count);
  await writeIndex(dir, `LeNet-5 run: ${settings.source}`, state, [], {
    recipe: formatRecipe(settings, optimizer),
    settings: settingsRows(settings, optimizer, { resume: dir }, { source: "fuzz", trainCount: count }),
    warnings,
    wallSeconds: 1,
  });
}

/**
 * What a resumed run does with a checkpoint that loaded: its report before a
 * pass; one more pass of `fit` (on a few patterns of the model's size, one
 * thread) from the loaded state; the report and the checkpoint after it,
 * which must load again. `fit` may stop with a DivergenceError (the state
 * trained into NaN, which training itself reports), never another error.
 */
async function resumeOnce(dir: string, loaded: Awaited<ReturnType<typeof loadCheckpoint>>): Promise<boolean> {
  const { settings, model, optimizer, fit: state } = loaded;
  const train = splitFor(model, 24, 1), test = splitFor(model, 8, 2);
  await reportOn(dir, settings, optimizer, state, model.classes, train?.count ?? 1);
  if (!train || !test) return false;
  const passes = state.passesDone + 1;
  try {
    await fit(
      model,
      optimizer,
      { train, test },
      { ...fitOptionsOf(settings, defaultRegistry), threads: 1, passes },
      state,
    );
  } catch (e) {
    if (e instanceof DivergenceError) return false;
    throw e;
  }
  const after = { ...settings, passes: Math.max(settings.passes, passes) };
  await reportOn(dir, after, optimizer, state, model.classes, train.count);
  await saveCheckpoint(dir, after, model, optimizer, state, 2);
  await loadCheckpoint(dir, defaultRegistry);
  return true;
}

Deno.test("fuzz: mutated checkpoints resume or fail with an error saying Cannot resume, load, build or parse", async () => {
  const SEED = 1305, CASES = 160;
  const rng = new Rng(SEED);
  let refused = 0, trained = 0;
  /** The checkpoints that loaded, and what was done to each. */
  const loaded: { text: string; where: string }[] = [];
  await withTempDir(async (dir) => {
    const bases = await writeBaseCheckpoints(dir);
    const path = checkpointPath(dir);
    // The unmutated checkpoints load, and survive a resumed pass.
    for (const [b, text] of bases.entries()) loaded.push({ text, where: `base ${b} unmutated` });
    for (let c = 0; c < CASES; c++) {
      const b = rng.int(bases.length);
      const data = JSON.parse(bases[b]) as Record<string, unknown>;
      const what = Array.from({ length: 1 + rng.int(2) }, () => mutateCheckpoint(rng, data));
      let text = JSON.stringify(data);
      if (rng.next() < 0.1) {
        text = mutateText(rng, text, 1 + rng.int(3), () => rng.int(Math.min(text.length, 2000)));
        what.push("text mutated");
      }
      await Deno.writeTextFile(path, text);
      const where = `checkpoint seed ${SEED} case ${c} (base ${b}; ${what.join("; ")})`;
      const outcome = await guarded(where, () => loadCheckpoint(dir, defaultRegistry));
      if (outcome.ok) {
        const { settings, model, optimizer } = outcome.value;
        const saved = JSON.parse(text) as Checkpoint;
        assert.deepEqual(bytesOf(model.params), bytesOf(decodeFloats(saved.params)), `${where}: the file's params`);
        assert.ok(model.params.every(Number.isFinite), `${where}: finite params`);
        assertBounded(model, where);
        // The state has what the rule's own state has, of the same kind and size.
        const fresh = createOptimizer(settings.optimizer, model, defaultRegistry).state;
        for (const [k, v] of Object.entries(fresh)) {
          const got = optimizer.state[k];
          if (typeof v === "number") assert.equal(typeof got, "number", `${where}: optimizer state "${k}"`);
          else {
            assert.ok(got instanceof Float32Array, `${where}: optimizer state "${k}" is ${show(got)}`);
            assert.equal(got.length, v.length, `${where}: optimizer state "${k}"`);
          }
        }
        loaded.push({ text, where });
      } else {
        expectDocumented(outcome.error, where, cannot);
        refused++;
      }
    }
    // What a resumed run does with each that loaded, before and after a pass, does not throw.
    const resumed = join(dir, "resumed");
    await Deno.mkdir(resumed);
    for (const { text, where } of loaded) {
      await Deno.writeTextFile(path, text);
      const run = await guarded(`${where}, resumed`, async () => {
        return await resumeOnce(resumed, await loadCheckpoint(dir, defaultRegistry));
      });
      if (!run.ok) assert.fail(`${where}: the resumed run failed: ${(run.error as Error)?.stack ?? run.error}`);
      if (where.includes("unmutated")) assert.ok(run.value, `${where}: trains a pass`);
      if (run.value) trained++;
    }
  });
  const n = loaded.length - 3;
  assert.ok(n >= 10 && trained >= 10 && refused >= CASES / 2, `loaded ${n}, trained ${trained}, refused ${refused}`);
});
