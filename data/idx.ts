/**
 * The idx file format of MNIST: a big-endian header (two zero bytes, a type
 * code, the number of dimensions, then each dimension as a 32-bit integer)
 * followed by the data. Plain or gzip-compressed files are both read.
 *
 * The header bounds what is read: a file may declare at most
 * {@linkcode MAX_IDX_BYTES}, and gzip data is decompressed in a stream into a
 * buffer of the declared size, stopping as soon as it would hold more.
 *
 * @module
 */
/** The largest idx file read, header and data: 1 GiB (MNIST's largest, the training images, is 47 MB). */
export const MAX_IDX_BYTES = 2 ** 30;

/**
 * Compressed input goes to the decompressor in slices of this many bytes. One
 * slice inflates to at most about 1,032 times as much (deflate's largest
 * ratio), about 8 MB, so output arrives in pieces that can be checked.
 */
const SLICE_BYTES = 8192;

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
  /** Size of each dimension, e.g. `[60000, 28, 28]` for MNIST's training images. */
  readonly dims: readonly number[];
  /** The values, in the file's order. */
  readonly data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** An idx file that is not what it should be; the message names the file. */
export class IdxError extends Error {
  /** `"IdxError"`: the name stack traces and `String(error)` show. */
  override name = "IdxError";
}

/** What an idx header says: the element type, the dimensions and the sizes they imply. */
interface IdxHeader {
  readonly magic: number;
  readonly type: { name: string; bytes: number };
  readonly dims: number[];
  /** Bytes of the header itself. */
  readonly headerBytes: number;
  /** Bytes of the whole file the header declares. */
  readonly totalBytes: number;
}

type Fail = (problem: string) => never;

function failer(source: string): Fail {
  return (problem) => {
    throw new IdxError(`Cannot read idx file "${source}": ${problem}`);
  };
}

/** "10 x 28 x 28 uint8 values" */
function describe(header: IdxHeader): string {
  return `${header.dims.join(" x ")} ${header.type.name} values`;
}

/**
 * Reads the header at the start of `bytes`, refusing a declared size over
 * {@linkcode MAX_IDX_BYTES}. When `partial`, too few bytes give `undefined`
 * (more may come) rather than an error.
 */
function readHeader(bytes: Uint8Array, fail: Fail, expectMagic: number | undefined, partial: boolean) {
  if (bytes.length < 4) {
    return partial ? undefined : fail(`file holds ${bytes.length} bytes, too short for an idx header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  if (expectMagic !== undefined && magic !== expectMagic) fail(`magic number is ${magic}, expected ${expectMagic}`);
  const type = TYPES[bytes[2]];
  if (bytes[0] !== 0 || bytes[1] !== 0 || type === undefined || bytes[3] === 0) {
    fail(`magic number is ${magic} (0x${magic.toString(16).padStart(8, "0")}), not an idx header`);
  }
  const rank = bytes[3];
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    return partial ? undefined : fail(`file holds ${bytes.length} bytes, too short for a header of ${rank} dimensions`);
  }
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  // A zero dimension empties the file; otherwise the product may reach Infinity, which the limit refuses.
  const count = dims.includes(0) ? 0 : dims.reduce((a, b) => a * b, 1);
  const header: IdxHeader = { magic, type, dims, headerBytes, totalBytes: headerBytes + count * type.bytes };
  if (header.totalBytes > MAX_IDX_BYTES) {
    const declared = describe(header);
    fail(
      `its header declares ${declared}, ${header.totalBytes} bytes, more than the limit of ${MAX_IDX_BYTES} bytes (MAX_IDX_BYTES)`,
    );
  }
  return header;
}

/** Checks the size of `bytes` against the header and decodes the values; `copy` keeps them apart from `bytes`. */
function decode(bytes: Uint8Array, header: IdxHeader, fail: Fail, copy: boolean): Idx {
  const { type, dims, headerBytes, totalBytes } = header;
  if (bytes.length < totalBytes) {
    fail(`file is truncated: it holds ${bytes.length} bytes, expected ${totalBytes} for ${describe(header)}`);
  }
  if (bytes.length > totalBytes) fail(`file holds ${bytes.length} bytes, expected ${totalBytes}: trailing data`);
  const body = copy ? bytes.slice(headerBytes, totalBytes) : bytes.subarray(headerBytes, totalBytes);
  const n = (totalBytes - headerBytes) / type.bytes;
  let data: Idx["data"];
  if (type.name === "uint8") data = body;
  else if (type.name === "int8") data = new Int8Array(body.buffer, body.byteOffset, body.length);
  else {
    const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
    if (type.name === "int16") data = Int16Array.from({ length: n }, (_, i) => dv.getInt16(2 * i, false));
    else if (type.name === "int32") data = Int32Array.from({ length: n }, (_, i) => dv.getInt32(4 * i, false));
    else if (type.name === "float32") data = Float32Array.from({ length: n }, (_, i) => dv.getFloat32(4 * i, false));
    else data = Float64Array.from({ length: n }, (_, i) => dv.getFloat64(8 * i, false));
  }
  return { type: type.name, magic: header.magic, dims, data };
}

/**
 * Decodes idx bytes. `source` names the file in errors; `expectMagic`
 * rejects a file of another kind (e.g. labels given for images). A header
 * declaring more than {@linkcode MAX_IDX_BYTES} is refused.
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
  const fail = failer(source);
  return decode(bytes, readHeader(bytes, fail, expectMagic, false)!, fail, true);
}

/** The bytes of `parts`, one after another, in a new array. */
export function concatBytes(parts: readonly ArrayLike<number>[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** True for gzip data (magic bytes 1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

let inflated = 0;

/**
 * Bytes {@linkcode decompress} has handed out in this thread since the module
 * loaded (every gzip idx file and PNG image read here): a count of work, not
 * of time, that tests use to bound what a refusal costs.
 */
export function inflatedBytes(): number {
  return inflated;
}

/**
 * Decompresses `parts` (one gzip or zlib stream, split anywhere) with the
 * web-standard DecompressionStream and hands the output to `onChunk` piece by
 * piece, each at most about 8 MB however well the data compresses. When
 * `onChunk` throws, decompression stops at once and the error passes on;
 * corrupt data goes to `corrupt`, which throws.
 */
export async function decompress(
  parts: readonly Uint8Array[],
  format: "gzip" | "deflate",
  onChunk: (chunk: Uint8Array) => void,
  corrupt: (error: Error) => never,
): Promise<void> {
  let part = 0, at = 0;
  const input = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(controller) {
      while (part < parts.length && at >= parts[part].length) [part, at] = [part + 1, 0];
      if (part === parts.length) return controller.close();
      controller.enqueue(parts[part].subarray(at, at + SLICE_BYTES) as Uint8Array<ArrayBuffer>);
      at += SLICE_BYTES;
    },
  }, { highWaterMark: 0 });
  const reader = input.pipeThrough(new DecompressionStream(format)).getReader();
  try {
    for (;;) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (e) {
        return corrupt(e as Error);
      }
      if (result.done) return;
      inflated += result.value.length;
      onChunk(result.value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  }
}

/**
 * Decodes a gzip-compressed idx file. The header is read as soon as its bytes
 * are out, the output buffer is allocated once at the size it declares, and
 * decompression stops as soon as the data would pass that size.
 */
export async function gunzipIdx(bytes: Uint8Array, source: string, expectMagic?: number): Promise<Idx> {
  const fail = failer(source);
  let head = new Uint8Array(0); // the first bytes, until they hold the whole header
  let header: IdxHeader | undefined;
  let out = new Uint8Array(0), filled = 0;
  await decompress([bytes], "gzip", (chunk) => {
    if (header === undefined) {
      head = concatBytes([head, chunk]);
      header = readHeader(head, fail, expectMagic, true);
      if (header === undefined) return;
      out = new Uint8Array(header.totalBytes);
      chunk = head;
    }
    if (filled + chunk.length > out.length) {
      const declared = describe(header);
      fail(
        `gzip data inflates to more than the ${out.length} bytes its header declares for ${declared}: trailing data`,
      );
    }
    out.set(chunk, filled);
    filled += chunk.length;
  }, (e) => fail(`gzip data is corrupt (${e.message})`));
  if (header === undefined) return parseIdx(head, source, expectMagic); // names what the short header lacks
  return decode(out.subarray(0, filled), header, fail, false);
}

/**
 * The bytes of an idx file of unsigned bytes with the given dimensions (magic 0x0800 + their count: 2051 for images
 * count x rows x cols, 2049 for labels).
 *
 * @example
 * ```ts
 * import { encodeIdx, parseIdx } from "./idx.ts";
 * const back = parseIdx(encodeIdx(new Uint8Array([1, 2, 3, 4, 5, 6]), [3, 1, 2]), "mem");
 * if (back.magic !== 2051 || back.dims.join() !== "3,1,2" || back.data[5] !== 6) throw new Error("round trip");
 * ```
 */
export function encodeIdx(data: Uint8Array, dims: readonly number[]): Uint8Array<ArrayBuffer> {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new RangeError(`Cannot write an idx file of dimensions ${dims.join("x")} from ${data.length} values`);
  }
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 + dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
