/**
 * The paper's input normalisation: pad each 28x28 image to 32x32 with
 * background, then map grey level 0 (background) to -0.1 and 255 (ink) to
 * 1.175, linearly, so the mean is about 0 and the variance about 1.
 *
 * @module
 */

/** Options of {@linkcode preprocess}. */
export interface PreprocessOptions {
  /** Pixels of background added on each side; default 2 (28 -> 32). */
  readonly pad?: number;
  /** Value of grey level 0; default -0.1. */
  readonly background?: number;
  /** Value of grey level 255; default 1.175. */
  readonly ink?: number;
}

/** The paper's values: pad 2, grey level 0 -> -0.1, 255 -> 1.175. */
export const PAPER_PREPROCESS: Required<PreprocessOptions> = { pad: 2, background: -0.1, ink: 1.175 };

/**
 * Preprocesses `count` images of rows x cols grey levels into a
 * Float32Array of count x (rows + 2 pad) x (cols + 2 pad).
 *
 * @example
 * ```ts
 * import { preprocess } from "./preprocess.ts";
 * const x = preprocess(new Uint8Array(28 * 28).fill(255), 1, 28, 28);
 * // float32 values: -0.1 and 1.175 as float32 rounds them
 * if (x.length !== 1024 || Math.abs(x[0] + 0.1) > 1e-6 || Math.abs(x[2 * 32 + 2] - 1.175) > 1e-6) throw new Error("bad");
 * ```
 */
export function preprocess(
  images: Uint8Array,
  count: number,
  rows: number,
  cols: number,
  options: PreprocessOptions = {},
): Float32Array {
  const pad = options.pad ?? PAPER_PREPROCESS.pad;
  const size = (rows + 2 * pad) * (cols + 2 * pad);
  const out = new Float32Array(count * size);
  for (let s = 0; s < count; s++) {
    preprocessInto(images.subarray(s * rows * cols, (s + 1) * rows * cols), rows, cols, out, s * size, options);
  }
  return out;
}

/** Preprocesses one image into `out` at `offset` (the padded size must fit). */
export function preprocessInto(
  image: Uint8Array,
  rows: number,
  cols: number,
  out: Float32Array,
  offset: number,
  options: PreprocessOptions = {},
): void {
  const pad = options.pad ?? PAPER_PREPROCESS.pad;
  const bg = options.background ?? PAPER_PREPROCESS.background, ink = options.ink ?? PAPER_PREPROCESS.ink;
  const h = rows + 2 * pad, w = cols + 2 * pad;
  const scale = (ink - bg) / 255;
  out.fill(bg, offset, offset + h * w);
  for (let r = 0; r < rows; r++) {
    const src = r * cols, dst = offset + (r + pad) * w + pad;
    for (let c = 0; c < cols; c++) out[dst + c] = bg + scale * image[src + c];
  }
}
