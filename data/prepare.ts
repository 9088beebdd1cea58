/**
 * What some networks of the paper's comparison (Fig. 9) do to each image
 * before the paper's preprocessing (padding and scaling, data/preprocess.ts):
 *
 * - `deslant`: "[deslant]" rows: the image sheared horizontally so that the
 *   principal axis of its ink (from the second moments of the grey levels) is
 *   vertical, then cropped to `size` x `size` around the box that bounds the
 *   sheared ink. With cy the centre of mass's row and alpha = mu11 / mu02
 *   (mu11 = sum v (x - cx)(y - cy), mu02 = sum v (y - cy)^2), a pixel (y, x)
 *   goes to (y, x - alpha (y - cy)); with (wy, wx) the centre of the box,
 *   output pixel (r, c) reads the image at y = wy + r - (size - 1) / 2, x =
 *   wx + c - (size - 1) / 2 + alpha (y - cy), bilinearly, background outside.
 * - `crop`: the `size` x `size` window centred on the box that bounds the
 *   ink, copied (its top-left corner at floor(centre - (size - 1) / 2 +
 *   0.5), background outside). On MNIST, `crop` 20 gives back the 20x20 box
 *   each digit was normalised into before it was centred by its centre of
 *   mass in the 28x28 field.
 * - `downsample`: "[16x16]" rows: the image reduced to `size` x `size` by
 *   area averaging (each output pixel the mean of the image over its
 *   square); the graph's `pad` then centres it in the input.
 *
 * Results are rounded to grey levels 0..255, so a prepared split is a split
 * like any other. Plain float64 arithmetic: the same bytes on every machine.
 *
 * @module
 */
import { preprocess } from "./preprocess.ts";
import type { Dataset, Split } from "./split.ts";

/** One preparation step, as a graph's `prepare` lists it. */
export interface PrepareStep {
  /** `"deslant"`, `"crop"` or `"downsample"`. */
  readonly type: "deslant" | "crop" | "downsample";
  /** Side of the square image it gives. */
  readonly size: number;
}

/** The step types. */
export const PREPARE_TYPES: readonly PrepareStep["type"][] = ["deslant", "crop", "downsample"];

/** The largest side a step may give. */
const MAX_SIDE = 1024;

/**
 * Checks a graph's `prepare` field: a list of `{ "type": "deslant" | "crop" | "downsample", "size": N }`. Returns the steps, or
 * throws a RangeError that names the entry and what was expected.
 */
export function readPrepare(raw: unknown): PrepareStep[] {
  if (raw === undefined) return [];
  const show = (v: unknown) => JSON.stringify(v) ?? String(v);
  if (!Array.isArray(raw)) throw new RangeError(`field "prepare" must be a list of steps, got ${show(raw)}`);
  return raw.map((step, i) => {
    const at = `field "prepare" entry ${i}`;
    if (typeof step !== "object" || step === null || Array.isArray(step)) {
      throw new RangeError(`${at} must be an object such as { "type": "deslant", "size": 20 }, got ${show(step)}`);
    }
    const { type, size, ...rest } = step as Record<string, unknown>;
    if (!PREPARE_TYPES.includes(type as PrepareStep["type"])) {
      throw new RangeError(`${at}: "type" must be one of ${PREPARE_TYPES.join(", ")}, got ${show(type)}`);
    }
    if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || size > MAX_SIDE) {
      throw new RangeError(`${at}: "size" must be an integer in 1..${MAX_SIDE}, got ${show(size)}`);
    }
    const extra = Object.keys(rest);
    if (extra.length) throw new RangeError(`${at}: field "${extra[0]}" is not a known field; expected "size", "type"`);
    return { type: type as PrepareStep["type"], size };
  });
}

/** The grey level of `image` at (y, x), bilinearly; 0 outside. */
function bilinear(image: Uint8Array, rows: number, cols: number, y: number, x: number): number {
  const y0 = Math.floor(y), x0 = Math.floor(x), fy = y - y0, fx = x - x0;
  const at = (r: number, c: number) => (r >= 0 && r < rows && c >= 0 && c < cols ? image[r * cols + c] : 0);
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
    fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
}

/** The centre of mass of an image's grey levels and its slant mu11 / mu02 (the centre and 0 for a blank image). */
export function moments(image: Uint8Array, rows: number, cols: number): { cx: number; cy: number; slant: number } {
  let m = 0, sx = 0, sy = 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const v = image[y * cols + x];
      m += v;
      sx += v * x;
      sy += v * y;
    }
  }
  if (m === 0) return { cx: (cols - 1) / 2, cy: (rows - 1) / 2, slant: 0 };
  const cx = sx / m, cy = sy / m;
  let mu11 = 0, mu02 = 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const v = image[y * cols + x];
      mu11 += v * (x - cx) * (y - cy);
      mu02 += v * (y - cy) * (y - cy);
    }
  }
  return { cx, cy, slant: mu02 > 0 ? mu11 / mu02 : 0 };
}

/** Deslants one image into `out` (size x size grey levels) at `offset`. */
export function deslantInto(
  image: Uint8Array,
  rows: number,
  cols: number,
  size: number,
  out: Uint8Array,
  offset: number,
): void {
  const { cx, cy, slant } = moments(image, rows, cols);
  // The window: centred on the box that bounds the ink once sheared (the image's centre when it holds none).
  let left = Infinity, right = -Infinity, top = Infinity, bottom = -Infinity;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      if (image[y * cols + x] === 0) continue;
      const sheared = x - slant * (y - cy);
      left = Math.min(left, sheared);
      right = Math.max(right, sheared);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  const wx = left <= right ? (left + right) / 2 : cx, wy = top <= bottom ? (top + bottom) / 2 : cy;
  const half = (size - 1) / 2;
  for (let r = 0; r < size; r++) {
    const y = wy + r - half;
    for (let c = 0; c < size; c++) {
      const x = wx + c - half + slant * (y - cy);
      out[offset + r * size + c] = Math.round(bilinear(image, rows, cols, y, x));
    }
  }
}

/** The box that bounds an image's ink: first and last row and column holding a grey level above 0 (null: no ink). */
export function inkBox(
  image: Uint8Array,
  rows: number,
  cols: number,
): { top: number; bottom: number; left: number; right: number } | null {
  let left = cols, right = -1, top = rows, bottom = -1;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      if (image[y * cols + x] === 0) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  return right < 0 ? null : { top, bottom, left, right };
}

/** Copies the size x size window centred on the box that bounds the ink (the image's centre when it holds none). */
export function cropInto(
  image: Uint8Array,
  rows: number,
  cols: number,
  size: number,
  out: Uint8Array,
  at: number,
): void {
  const box = inkBox(image, rows, cols) ?? { top: 0, bottom: rows - 1, left: 0, right: cols - 1 };
  const corner = (lo: number, hi: number) => Math.floor((lo + hi) / 2 - (size - 1) / 2 + 0.5);
  const y0 = corner(box.top, box.bottom), x0 = corner(box.left, box.right);
  for (let r = 0; r < size; r++) {
    const y = y0 + r;
    for (let c = 0; c < size; c++) {
      const x = x0 + c;
      out[at + r * size + c] = y >= 0 && y < rows && x >= 0 && x < cols ? image[y * cols + x] : 0;
    }
  }
}

/** The share of source pixel `i` (of `n`) that output pixel `o` (of `size`) covers, over the output pixel's width. */
export function areaWeights(n: number, size: number): Float64Array {
  const w = new Float64Array(size * n), step = n / size;
  for (let o = 0; o < size; o++) {
    const lo = o * step, hi = (o + 1) * step;
    for (let i = Math.floor(lo); i < Math.min(n, Math.ceil(hi)); i++) {
      w[o * n + i] = (Math.min(hi, i + 1) - Math.max(lo, i)) / step;
    }
  }
  return w;
}

/** Reduces one image to size x size by area averaging into `out` at `offset`. */
export function downsampleInto(
  image: Uint8Array,
  rows: number,
  cols: number,
  size: number,
  out: Uint8Array,
  offset: number,
): void {
  const wy = areaWeights(rows, size), wx = areaWeights(cols, size);
  const tmp = new Float64Array(size * cols);
  for (let r = 0; r < size; r++) {
    for (let y = 0; y < rows; y++) {
      const w = wy[r * rows + y];
      if (w === 0) continue;
      for (let x = 0; x < cols; x++) tmp[r * cols + x] += w * image[y * cols + x];
    }
  }
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      let s = 0;
      for (let x = 0; x < cols; x++) s += wx[c * cols + x] * tmp[r * cols + x];
      out[offset + r * size + c] = Math.round(s);
    }
  }
}

/**
 * A split with every image prepared by `steps` in turn (the split itself when there are none).
 *
 * @example
 * ```ts
 * import { prepareSplit } from "./prepare.ts";
 * const images = new Uint8Array(28 * 28).fill(200);
 * const split = { images, labels: new Uint8Array([5]), count: 1, rows: 28, cols: 28 };
 * const small = prepareSplit(split, [{ type: "downsample", size: 16 }]);
 * if (small.rows !== 16 || small.images.length !== 256 || small.images[100] !== 200) throw new Error("16x16 of 200");
 * ```
 */
export function prepareSplit(split: Split, steps: readonly PrepareStep[]): Split {
  let { images, rows, cols } = split;
  for (const step of steps) {
    const size = step.size, out = new Uint8Array(split.count * size * size);
    const into = { deslant: deslantInto, crop: cropInto, downsample: downsampleInto }[step.type];
    for (let i = 0; i < split.count; i++) {
      into(images.subarray(i * rows * cols, (i + 1) * rows * cols), rows, cols, size, out, i * size * size);
    }
    images = out;
    rows = cols = size;
  }
  return steps.length ? { ...split, images, rows, cols } : split;
}

/**
 * A split's images as a model reads them: prepared by its graph's `prepare`, then padded by its `inputPad` and scaled
 * as the paper's preprocessing does.
 */
export function modelInputs(
  split: Split,
  model: { readonly prepare: readonly PrepareStep[]; readonly inputPad: number },
): Float32Array {
  const ready = prepareSplit(split, model.prepare);
  return preprocess(ready.images, ready.count, ready.rows, ready.cols, { pad: model.inputPad });
}

/** A data set with both splits prepared by `steps` (the data set itself when there are none). */
export function preparedData(data: Dataset, steps: readonly PrepareStep[]): Dataset {
  return steps.length
    ? { ...data, train: prepareSplit(data.train, steps), test: prepareSplit(data.test, steps) }
    : data;
}
