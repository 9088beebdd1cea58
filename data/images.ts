/**
 * Grey-level input images for a model: an idx file of images (MNIST
 * format, plain or gzip), or one PGM (P2, P5) or PNG image. The format is
 * told by the content, not the file name.
 *
 * Images come out as MNIST has them: bytes 0..255, 0 the background. Pass
 * `invert` for dark ink on a light background; transparent PNG pixels are
 * background.
 *
 * Compressed data is bounded by its header: an idx file by the size it
 * declares (at most `MAX_IDX_BYTES`), a PNG by {@linkcode MAX_PNG_SIDE} and
 * {@linkcode MAX_PNG_BYTES}. Decompression stops as soon as the data would pass
 * the bound.
 *
 * @module
 */
import { readFileBounded } from "./files.ts";
import { decompress, gunzipIdx, isGzip, MAX_IDX_BYTES, parseIdx } from "./idx.ts";

/** Images of one size, one after another, row by row. */
export interface GreyImages {
  /** Grey levels 0..255, image after image, row by row. */
  readonly images: Uint8Array;
  /** Number of images. */
  readonly count: number;
  /** Height of each image in pixels. */
  readonly rows: number;
  /** Width of each image in pixels. */
  readonly cols: number;
  /** The file's format: "idx" (MNIST's, images already MNIST-like), "pgm", "png" or "jpeg" (one picture of any size). */
  readonly format?: "idx" | "pgm" | "png" | "jpeg";
}

/** Options of {@linkcode readImages}. */
export interface ReadImagesOptions {
  /** The images are dark ink on a light background: grey level g becomes 255 - g. */
  readonly invert?: boolean;
}

/** An image file that cannot be read; the message names the file. */
export class ImageError extends Error {
  /** `"ImageError"`: the name stack traces and `String(error)` show. */
  override name = "ImageError";
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The widest and tallest PNG read, in pixels. */
export const MAX_PNG_SIDE = 8192;

/**
 * The most bytes of samples (width x height x channels x bytes per sample) a
 * PNG may hold: 256 MiB, an 8192 x 8192 8-bit RGBA image.
 */
export const MAX_PNG_BYTES = 2 ** 28;

/** Reads images from an idx, PGM or PNG file. */
export async function readImages(path: string, options: ReadImagesOptions = {}): Promise<GreyImages> {
  const bytes = await readFileBounded(path, MAX_IDX_BYTES, (problem) => {
    throw new ImageError(`Cannot read images "${path}": ${problem}`);
  });
  let result: GreyImages;
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    result = await decodePng(bytes, path, { lightBackground: options.invert });
  } else if (bytes[0] === 0x50 && (bytes[1] === 0x32 || bytes[1] === 0x35)) result = decodePgm(bytes, path);
  else if (isGzip(bytes) || (bytes[0] === 0 && bytes[1] === 0)) result = await decodeIdxImages(bytes, path);
  else if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    result = await decodeJpeg(bytes, path);
  } else throw new ImageError(`Cannot read images "${path}": it is not an idx, PGM (P2, P5), PNG or JPEG file`);
  if (options.invert) {
    // PNG alpha was already composed over the inverted (light) background.
    const images = result.images.map((g) => 255 - g);
    result = { ...result, images };
  }
  return result;
}

async function decodeIdxImages(bytes: Uint8Array, path: string): Promise<GreyImages> {
  const idx = isGzip(bytes) ? await gunzipIdx(bytes, path) : parseIdx(bytes, path);
  if (idx.type !== "uint8" || (idx.dims.length !== 2 && idx.dims.length !== 3)) {
    const dims = idx.dims.join(", ");
    throw new ImageError(
      `Cannot read images "${path}": idx file holds ${idx.type} [${dims}], expected uint8 images [count, rows, cols] or one image [rows, cols] (or a PGM or PNG image)`,
    );
  }
  const [count, rows, cols] = idx.dims.length === 3 ? idx.dims : [1, ...idx.dims];
  return { images: idx.data as Uint8Array, count, rows, cols, format: "idx" };
}

/** PGM (Netpbm grey map): P2 (text) or P5 (binary, 8 or 16 bits), one image. */
export function decodePgm(bytes: Uint8Array, path: string): GreyImages {
  const fail = (problem: string): never => {
    throw new ImageError(`Cannot read PGM image "${path}": ${problem}`);
  };
  let at = 2;
  const token = (): number => {
    for (;;) {
      while (at < bytes.length && /\s/.test(String.fromCharCode(bytes[at]))) at++;
      if (bytes[at] !== 0x23) break; // '#' comment up to the end of the line
      while (at < bytes.length && bytes[at] !== 0x0a) at++;
    }
    const start = at;
    while (at < bytes.length && bytes[at] >= 0x30 && bytes[at] <= 0x39) at++;
    if (at === start) fail(`expected a number at byte ${start}`);
    return Number(new TextDecoder().decode(bytes.subarray(start, at)));
  };
  const cols = token(), rows = token(), maxval = token();
  if (cols < 1 || rows < 1 || maxval < 1 || maxval > 65535) {
    fail(`header gives ${cols}x${rows} with maximum ${maxval}, expected positive sizes and a maximum in 1..65535`);
  }
  const n = rows * cols;
  const text = bytes[1] === 0x32, wide = maxval > 255;
  if (!text) at++; // the single whitespace after the maximum
  // Checked before the image is allocated: the header's size must fit the file (a P2 value takes a byte at least).
  if (bytes.length - at < n * (text ? 1 : wide ? 2 : 1)) fail(`holds too few pixels for ${cols}x${rows}`);
  const images = new Uint8Array(n);
  const scale = (v: number) => Math.round((Math.min(v, maxval) * 255) / maxval);
  if (text) {
    for (let i = 0; i < n; i++) images[i] = scale(token());
  } else {
    for (let i = 0; i < n; i++) {
      images[i] = scale(wide ? (bytes[at + 2 * i] << 8) | bytes[at + 2 * i + 1] : bytes[at + i]);
    }
  }
  return { images, count: 1, rows, cols, format: "pgm" };
}

/** PNG colour types: their channels, names and the bit depths PNG allows. */
const PNG_COLOURS: Record<number, { channels: number; name: string; depths: readonly number[] }> = {
  0: { channels: 1, name: "grey", depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, name: "RGB", depths: [8, 16] },
  3: { channels: 1, name: "palette", depths: [1, 2, 4, 8] },
  4: { channels: 2, name: "grey + alpha", depths: [8, 16] },
  6: { channels: 4, name: "RGBA", depths: [8, 16] },
};

/** Adam7's seven passes: first column, first row, column step, row step. */
const ADAM7: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** Options of {@linkcode decodePng}. */
export interface DecodePngOptions {
  /** Compose transparency over white (dark ink on a light background) instead of black. */
  readonly lightBackground?: boolean;
  /**
   * The most pixels (width x height) to accept, checked at the header before
   * anything is allocated, beside {@linkcode MAX_PNG_SIDE} and
   * {@linkcode MAX_PNG_BYTES} (default: those two alone).
   */
  readonly maxPixels?: number;
}

/** What a PNG's header (its IHDR chunk) says. */
export interface PngHeader {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** Bits per sample: 1, 2, 4, 8 or 16. */
  readonly depth: number;
  /** Colour type: 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  readonly colour: number;
  /** Adam7-interlaced. */
  readonly interlaced: boolean;
}

/** Throws an error naming the problem. */
type Fail = (problem: string) => never;

/** Throws the ImageError of a PNG file that cannot be read. */
const pngFail = (path: string): Fail => (problem) => {
  throw new ImageError(`Cannot read PNG image "${path}": ${problem}`);
};

/** The bytes of the signature and the IHDR chunk (length, type, 13 bytes of data, CRC). */
const PNG_HEADER_BYTES = 8 + 12 + 13;

/**
 * The signature and header of a PNG, read without touching its image data:
 * the file must start with PNG's signature and its first chunk must be IHDR,
 * of a kind PNG defines and within {@linkcode MAX_PNG_SIDE},
 * {@linkcode MAX_PNG_BYTES} and `maxPixels`; an `ImageError` says what is not.
 *
 * @example
 * ```ts
 * import { readPngHeader } from "./images.ts";
 * const refused = (() => {
 *   try {
 *     return readPngHeader(new TextEncoder().encode('{"pixels": []}'), "body.json");
 *   } catch (e) {
 *     return (e as Error).message;
 *   }
 * })();
 * if (!String(refused).includes("no PNG signature")) throw new Error(String(refused));
 * ```
 */
export function readPngHeader(
  bytes: Uint8Array,
  path: string,
  options: Pick<DecodePngOptions, "maxPixels"> = {},
): PngHeader {
  const fail = pngFail(path);
  if (!PNG_SIGNATURE.every((b, i) => bytes[i] === b)) {
    fail("it has no PNG signature (the 8 bytes 89 50 4E 47 0D 0A 1A 0A a PNG file starts with)");
  }
  if (bytes.length < PNG_HEADER_BYTES) fail(`it holds ${bytes.length} bytes, too few for a PNG header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(8), type = String.fromCharCode(...bytes.subarray(12, 16));
  if (type !== "IHDR") fail(`its first chunk is ${JSON.stringify(type)}, expected IHDR`);
  if (length !== 13) fail(`chunk IHDR holds ${length} bytes, expected 13`);
  const width = view.getUint32(16), height = view.getUint32(20), depth = bytes[24], colour = bytes[25];
  if (bytes[28] > 1) fail(`interlace method ${bytes[28]} is not PNG's (0 or 1)`);
  checkSize(width, height, depth, colour, fail);
  const pixels = width * height;
  if (options.maxPixels !== undefined && pixels > options.maxPixels) {
    fail(`header gives ${width}x${height} pixels (${pixels}), more than the limit of ${options.maxPixels} pixels`);
  }
  return { width, height, depth, colour, interlaced: bytes[28] === 1 };
}

/**
 * PNG, everything the format allows for a still image: grey (1, 2, 4, 8 or
 * 16 bits), palette (1, 2, 4 or 8), RGB, grey + alpha and RGBA (8 or 16),
 * interlaced (Adam7) or not, with transparency from alpha or a tRNS chunk.
 * Colour becomes grey by luma (0.299 R + 0.587 G + 0.114 B); transparency
 * composes over the background (black, or white with `lightBackground`). The
 * signature and the header are checked first ({@linkcode readPngHeader}:
 * {@linkcode MAX_PNG_SIDE}, {@linkcode MAX_PNG_BYTES} and `maxPixels`), before
 * anything is allocated, and the image data must inflate to exactly the bytes
 * that size needs.
 */
export async function decodePng(bytes: Uint8Array, path: string, options: DecodePngOptions = {}): Promise<GreyImages> {
  const fail = pngFail(path);
  const { width, height, depth, colour, interlaced } = readPngHeader(bytes, path, options);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = PNG_HEADER_BYTES;
  let palette: Uint8Array = new Uint8Array(0), trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + length > bytes.length) {
      const needs = 12 + length, left = bytes.length - at;
      fail(
        `chunk ${type} at byte ${at} runs past the end of the file: it needs ${needs} bytes (length, type, ${length} of data, CRC), the file has ${left} left`,
      );
    }
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") fail(`it holds a second IHDR chunk, at byte ${at}`);
    else if (type === "PLTE") palette = data;
    else if (type === "tRNS") trns = data;
    else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  if (idat.length === 0) fail("it holds no image data (no IDAT chunk)");
  const { channels, name } = PNG_COLOURS[colour];
  const bits = channels * depth, bpp = Math.max(1, bits >> 3);
  const strideOf = (w: number) => Math.ceil((w * bits) / 8);
  // Each pass (one without interlacing) is a sub-image; each of its rows is a filter type, then the samples.
  const passes = (interlaced ? ADAM7 : [[0, 0, 1, 1] as const]).map(([x0, y0, dx, dy]) => {
    const w = Math.max(0, Math.ceil((width - x0) / dx)), h = w ? Math.max(0, Math.ceil((height - y0) / dy)) : 0;
    return { x0, y0, dx, dy, w, h, stride: strideOf(w) };
  });
  const size = passes.reduce((n, p) => n + p.h * (p.stride + 1), 0);
  const raw = new Uint8Array(size);
  let filled = 0;
  await decompress(idat, "deflate", (chunk) => {
    if (filled + chunk.length > size) {
      fail(`image data inflates to more than the ${size} bytes a ${width}x${height} ${depth}-bit ${name} image needs`);
    }
    raw.set(chunk, filled);
    filled += chunk.length;
  }, (e) => fail(`image data is corrupt (${e.message})`));
  if (filled < size) fail(`image data holds ${filled} bytes, expected ${size}`);

  const max = (1 << Math.min(depth, 8)) - 1;
  /** Sample `c` of pixel `x` of an unfiltered row: the file's value, and the same on 0..255. */
  const sampleOf = (row: Uint8Array, x: number, c: number): [number, number] => {
    const i = x * channels + c;
    if (depth === 16) return [(row[2 * i] << 8) | row[2 * i + 1], row[2 * i]];
    if (depth === 8) return [row[i], row[i]];
    const bit = i * depth, v = (row[bit >> 3] >> (8 - depth - (bit & 7))) & max;
    return [v, Math.round((v * 255) / max)];
  };
  const paletteAlpha = (k: number) => (trns && k < trns.length ? trns[k] : 255);
  const key = (k: number) => (trns && trns.length >= 2 * (k + 1) ? (trns[2 * k] << 8) | trns[2 * k + 1] : -1);
  const images = new Uint8Array(width * height);
  const bg = options.lightBackground ? 255 : 0;
  let offset = 0;
  for (const p of passes) {
    if (!p.w || !p.h) continue;
    const rows = unfilter(raw.subarray(offset, offset + p.h * (p.stride + 1)), p.h, p.stride, bpp, fail);
    offset += p.h * (p.stride + 1);
    for (let y = 0; y < p.h; y++) {
      const row = rows.subarray(y * p.stride, (y + 1) * p.stride);
      for (let x = 0; x < p.w; x++) {
        let grey: number, alpha = 255;
        if (colour === 3) {
          const k = sampleOf(row, x, 0)[0], i = 3 * k;
          if (i + 2 >= palette.length) fail(`pixel ${x},${y} uses palette entry ${k}, which the palette lacks`);
          grey = 0.299 * palette[i] + 0.587 * palette[i + 1] + 0.114 * palette[i + 2];
          alpha = paletteAlpha(k);
        } else if (channels <= 2) {
          const [v, g] = sampleOf(row, x, 0);
          grey = g;
          if (channels === 2) alpha = sampleOf(row, x, 1)[1];
          else if (v === key(0)) alpha = 0;
        } else {
          const [r, g, b] = [0, 1, 2].map((c) => sampleOf(row, x, c));
          grey = 0.299 * r[1] + 0.587 * g[1] + 0.114 * b[1];
          if (channels === 4) alpha = sampleOf(row, x, 3)[1];
          else if (r[0] === key(0) && g[0] === key(1) && b[0] === key(2)) alpha = 0;
        }
        images[(p.y0 + y * p.dy) * width + p.x0 + x * p.dx] = Math.round((grey * alpha + bg * (255 - alpha)) / 255);
      }
    }
  }
  return { images, count: 1, rows: height, cols: width, format: "png" };
}

/**
 * JPEG (baseline or progressive, grey or colour), decoded by the npm package
 * jpeg-js 0.4.4 (pure JavaScript, no dependencies) within the same size
 * limits as PNG; colour becomes grey by luma.
 */
async function decodeJpeg(bytes: Uint8Array, path: string): Promise<GreyImages> {
  // The full specifier (not the import map's bare name) keeps this working when imported by URL.
  // deno-lint-ignore no-import-prefix
  const jpeg = await import("npm:jpeg-js@0.4.4");
  let decoded: { width: number; height: number; data: Uint8Array };
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: (MAX_PNG_SIDE * MAX_PNG_SIDE) / 1e6,
      maxMemoryUsageInMB: MAX_PNG_BYTES / 2 ** 20,
    });
  } catch (e) {
    throw new ImageError(`Cannot read JPEG image "${path}": ${(e as Error).message}`);
  }
  const { width, height, data } = decoded;
  if (width > MAX_PNG_SIDE || height > MAX_PNG_SIDE) {
    throw new ImageError(
      `Cannot read JPEG image "${path}": it is ${width}x${height} pixels, more than the limit of ${MAX_PNG_SIDE} a side`,
    );
  }
  const images = new Uint8Array(width * height);
  for (let p = 0; p < images.length; p++) {
    images[p] = Math.round(0.299 * data[4 * p] + 0.587 * data[4 * p + 1] + 0.114 * data[4 * p + 2]);
  }
  return { images, count: 1, rows: height, cols: width, format: "jpeg" };
}

/** Refuses an IHDR of an unsupported kind or over the size limits, before anything is allocated for it. */
function checkSize(width: number, height: number, depth: number, colour: number, fail: Fail) {
  const kind = PNG_COLOURS[colour];
  if (kind === undefined || !kind.depths.includes(depth)) {
    fail(
      `colour type ${colour} with ${depth}-bit samples is not a PNG kind; expected grey (1, 2, 4, 8, 16 bits), ` +
        `palette (1, 2, 4, 8), RGB, grey + alpha or RGBA (8, 16)`,
    );
  }
  if (width < 1 || height < 1) fail(`header gives ${width}x${height} pixels, expected at least 1x1`);
  if (width > MAX_PNG_SIDE || height > MAX_PNG_SIDE) {
    fail(`header gives ${width}x${height} pixels, more than the limit of ${MAX_PNG_SIDE} pixels a side (MAX_PNG_SIDE)`);
  }
  const samples = Math.ceil((width * kind.channels * depth) / 8) * height;
  if (samples > MAX_PNG_BYTES) {
    fail(
      `a ${width}x${height} ${depth}-bit ${kind.name} image holds ${samples} bytes of samples, more than the limit of ${MAX_PNG_BYTES} (MAX_PNG_BYTES)`,
    );
  }
}

/** Undoes PNG's per-row filters (None, Sub, Up, Average, Paeth), in place: returns the rows of samples. */
function unfilter(raw: Uint8Array, height: number, stride: number, bpp: number, fail: Fail): Uint8Array {
  // In place: row y's samples go to y * stride, before where its filtered bytes start (y * (stride + 1) + 1),
  // so every byte is read before it is overwritten, and a, b, c are read from rows already undone.
  const out = raw;
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1, row = y * stride, up = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[up + x] : 0;
      const c = x >= bpp && y > 0 ? out[up + x - bpp] : 0;
      let pred: number;
      if (filter === 0) pred = 0;
      else if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else return fail(`row ${y} has unknown filter type ${filter}`);
      out[row + x] = (raw[src + x] + pred) & 0xff;
    }
  }
  return out.subarray(0, height * stride);
}
