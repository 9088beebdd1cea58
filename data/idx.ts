/**
 * The idx file format of MNIST: a big-endian header (two zero bytes, a type
 * code, the number of dimensions, then each dimension as a 32-bit integer)
 * followed by the data. Plain or gzip-compressed files are both read.
 *
 * @module
 */

/** Element types of idx files by their type code. */
const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: "uint8", bytes: 1 },
  0x09: { name: "int8", bytes: 1 },
  0x0b: { name: "int16", bytes: 2 },
  0x0c: { name: "int32", bytes: 4 },
  0x0d: { name: "float32", bytes: 4 },
  0x0e: { name: "float64", bytes: 8 },
};

/** A decoded idx file. */
export interface Idx {
  /** `uint8`, `int8`, `int16`, `int32`, `float32` or `float64`. */
  readonly type: string;
  /** The magic number as a big-endian integer (2051 for MNIST images, 2049 for labels). */
  readonly magic: number;
  readonly dims: readonly number[];
  /** The values, in the file's order. */
  readonly data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** An idx file that is not what it should be; the message names the file. */
export class IdxError extends Error {
  override name = "IdxError";
}

/**
 * Decodes idx bytes. `source` names the file in errors; `expectMagic`
 * rejects a file of another kind (e.g. labels given for images).
 *
 * @example
 * ```ts
 * import { parseIdx } from "./idx.ts";
 * const bytes = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]);
 * const idx = parseIdx(bytes, "tiny");
 * if (idx.magic !== 2049 || idx.data[2] !== 9) throw new Error("bad parse");
 * ```
 */
export function parseIdx(bytes: Uint8Array, source: string, expectMagic?: number): Idx {
  const fail = (problem: string): never => {
    throw new IdxError(`Cannot read idx file "${source}": ${problem}`);
  };
  if (bytes.length < 4) fail(`file holds ${bytes.length} bytes, too short for an idx header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (expectMagic !== undefined && magic !== expectMagic) fail(`magic number is ${magic}, expected ${expectMagic}`);
  const type = TYPES[bytes[2]];
  if (bytes[0] !== 0 || bytes[1] !== 0 || type === undefined || bytes[3] === 0) {
    fail(`magic number is ${magic} (0x${magic.toString(16).padStart(8, "0")}), not an idx header`);
  }
  const rank = bytes[3];
  const header = 4 + 4 * rank;
  if (bytes.length < header) fail(`file holds ${bytes.length} bytes, too short for a header of ${rank} dimensions`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = header + count * type.bytes;
  if (bytes.length < expected) {
    fail(
      `file is truncated: it holds ${bytes.length} bytes, expected ${expected} for ${
        dims.join(" x ")
      } ${type.name} values`,
    );
  }
  if (bytes.length > expected) fail(`file holds ${bytes.length} bytes, expected ${expected}: trailing data`);
  const body = bytes.slice(header, expected);
  let data: Idx["data"];
  if (type.bytes === 1) data = type.name === "uint8" ? body : new Int8Array(body.buffer);
  else {
    const dv = new DataView(body.buffer);
    const n = count;
    if (type.name === "int16") data = Int16Array.from({ length: n }, (_, i) => dv.getInt16(2 * i, false));
    else if (type.name === "int32") data = Int32Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, false));
    else if (type.name === "float32") data = Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, false));
    else data = Float64Array.from({ length: n }, (_, i) => dv.getFloat64(8 * i, false));
  }
  return { type: type.name, magic, dims, data };
}

/** True for gzip data (magic bytes 1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips with the web-standard DecompressionStream. */
export async function gunzip(bytes: Uint8Array, source: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new IdxError(`Cannot read idx file "${source}": gzip data is corrupt (${(e as Error).message})`);
  }
}

/** Reads an idx file from disk, plain or gzip (detected by content). */
export async function readIdxFile(path: string, expectMagic?: number): Promise<Idx> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new IdxError(`Cannot read idx file "${path}": no such file`);
    throw e;
  }
  if (isGzip(bytes)) bytes = await gunzip(bytes, path);
  return parseIdx(bytes, path, expectMagic);
}
