/**
 * Any grey image of a digit turned into what MNIST digits look like, the way
 * MNIST was made (LeCun et al. 1998, section III-A): the ink cropped, scaled
 * to fit a 20x20 box with its aspect ratio kept (anti-aliased grey levels),
 * and placed in a 28x28 image so that its centre of mass is at the centre.
 * Light ink on a dark ground and dark ink on a light ground both work: the
 * background is told by the border pixels.
 *
 * No Deno or browser API: the web page and the command line share it.
 *
 * @module
 */

/** What {@linkcode mnistify} did. */
export interface MnistifyResult {
  /** 28 x 28 grey levels, 0 the background, 255 full ink. */
  readonly image: Uint8Array;
  /** The input had dark ink on a light background and was inverted. */
  readonly inverted: boolean;
  /** The ink's bounding box in the input, or null when there is no ink. */
  readonly box: { readonly x: number; readonly y: number; readonly width: number; readonly height: number } | null;
  /** Where the scaled ink's top-left corner sits in the output (column, row): its centre of mass at the centre. */
  readonly offset: readonly [number, number];
}

/** Options of {@linkcode mnistify}. */
export interface MnistifyOptions {
  /** Side of the box the ink is scaled into (default 20, MNIST's). */
  readonly box?: number;
  /** Side of the output (default 28). */
  readonly size?: number;
  /** Ink counts from this fraction of the way from the background to the darkest ink (default 0.1). */
  readonly threshold?: number;
}

/**
 * True when every grey level of `grey` is the same: a picture with no ink,
 * nothing for a model to read (a blank or fully transparent picture, a single
 * pixel, an MNIST-like image of zeros).
 *
 * @example
 * ```ts
 * import { isBlank } from "./mnistify.ts";
 * if (!isBlank(new Uint8Array(784)) || isBlank(Uint8Array.of(0, 0, 255))) throw new Error("wrong");
 * ```
 */
export function isBlank(grey: ArrayLike<number>): boolean {
  for (let i = 1; i < grey.length; i++) if (grey[i] !== grey[0]) return false;
  return true;
}

/**
 * Turns `grey` (width x height grey levels 0..255, row by row) into a 28x28
 * MNIST-style digit.
 *
 * @example
 * ```ts
 * import { mnistify } from "./mnistify.ts";
 * // A black bar on white, 100 x 300 pixels: inverted, scaled to 20 rows high, centred.
 * const grey = new Uint8Array(100 * 300).fill(255);
 * for (let y = 50; y < 250; y++) for (let x = 45; x < 55; x++) grey[y * 100 + x] = 0;
 * const { image, inverted } = mnistify(grey, 100, 300);
 * if (!inverted || image[14 * 28 + 14] !== 255 || image[0] !== 0) throw new Error("not MNIST-like");
 * ```
 */
export function mnistify(
  grey: ArrayLike<number>,
  width: number,
  height: number,
  options: MnistifyOptions = {},
): MnistifyResult {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1)) {
    throw new RangeError(`Cannot mnistify: width and height must be integers >= 1, got ${width}x${height}`);
  }
  if (grey.length < width * height) {
    throw new RangeError(`Cannot mnistify: ${grey.length} grey levels for a ${width}x${height} image`);
  }
  const boxSide = options.box ?? 20, size = options.size ?? 28, threshold = options.threshold ?? 0.1;
  // The background: the median of the border pixels.
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(grey[x], grey[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) border.push(grey[y * width], grey[y * width + width - 1]);
  border.sort((a, b) => a - b);
  const bg = border[Math.floor(border.length / 2)];
  const inverted = bg > 127;
  // Ink as 0..1 above the background.
  const ink = new Float32Array(width * height);
  let darkest = 0;
  for (let i = 0; i < ink.length; i++) {
    const v = inverted ? bg - grey[i] : grey[i] - bg;
    ink[i] = Math.max(0, v);
    darkest = Math.max(darkest, ink[i]);
  }
  const out = new Uint8Array(size * size);
  if (darkest === 0) return { image: out, inverted, box: null, offset: [0, 0] };
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = (ink[y * width + x] /= darkest);
      if (v > threshold) {
        x0 = Math.min(x0, x), x1 = Math.max(x1, x), y0 = Math.min(y0, y), y1 = Math.max(y1, y);
      }
    }
  }
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  // Scale the box to fit boxSide x boxSide, averaging the area each output pixel covers (anti-aliased).
  const scale = boxSide / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale)), th = Math.max(1, Math.round(bh * scale));
  const small = new Float32Array(tw * th);
  const sx = bw / tw, sy = bh / th; // input pixels per output pixel
  for (let ty = 0; ty < th; ty++) {
    const fy0 = y0 + ty * sy, fy1 = fy0 + sy;
    for (let tx = 0; tx < tw; tx++) {
      const fx0 = x0 + tx * sx, fx1 = fx0 + sx;
      let sum = 0;
      for (let y = Math.floor(fy0); y < Math.min(Math.ceil(fy1), height); y++) {
        const wy = Math.min(fy1, y + 1) - Math.max(fy0, y);
        for (let x = Math.floor(fx0); x < Math.min(Math.ceil(fx1), width); x++) {
          const wx = Math.min(fx1, x + 1) - Math.max(fx0, x);
          sum += wx * wy * ink[y * width + x];
        }
      }
      small[ty * tw + tx] = sum / (sx * sy);
    }
  }
  // Centre of mass at the centre of the output, by a whole-pixel shift kept inside the image.
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = small[y * tw + x];
      mass += v, mx += v * (x + 0.5), my += v * (y + 0.5);
    }
  }
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const ox = clamp(Math.round(size / 2 - mx / mass), 0, size - tw);
  const oy = clamp(Math.round(size / 2 - my / mass), 0, size - th);
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) out[(oy + y) * size + ox + x] = Math.round(255 * clamp(small[y * tw + x], 0, 1));
  }
  return { image: out, inverted, box: { x: x0, y: y0, width: bw, height: bh }, offset: [ox, oy] };
}
