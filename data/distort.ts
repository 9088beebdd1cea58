/**
 * Random distortions of training patterns (section III-B, "with distortions"):
 * translation, scaling, squeezing (horizontal compression with vertical
 * elongation, or the reverse) and horizontal shearing, combined into one
 * affine map and applied with bilinear interpolation to a preprocessed image.
 * Pixels that come from outside the image get the background value.
 *
 * The paper gives no ranges; ours ({@linkcode DEFAULT_DISTORTION}) keep a
 * digit recognisable: up to 2 pixels of shift, 10% of scale, 15% of squeeze
 * and a shear of 0.2 (x moves by up to 0.2 y).
 *
 * @module
 */
import type { RandomSource } from "../engine/types.ts";

/** Ranges of the random distortion: each drawn uniformly in [-range, +range]. */
export interface DistortionRanges {
  /** Shift in pixels, drawn separately for x and y. */
  readonly translate: number;
  /** Relative scale change: the factor is 1 + u. */
  readonly scale: number;
  /** Relative squeeze: x is multiplied by 1 + u and y divided by it. */
  readonly squeeze: number;
  /** Horizontal shear: x moves by u times y (from the centre). */
  readonly shear: number;
}

/** The ranges `--distort` uses. */
export const DEFAULT_DISTORTION: DistortionRanges = { translate: 2, scale: 0.1, squeeze: 0.15, shear: 0.2 };

/** One drawn distortion. */
export interface Distortion {
  readonly dx: number;
  readonly dy: number;
  readonly scale: number;
  readonly squeeze: number;
  readonly shear: number;
}

/** The identity: no distortion. */
export const NO_DISTORTION: Distortion = { dx: 0, dy: 0, scale: 1, squeeze: 1, shear: 0 };

/** Draws one distortion (five uniform numbers from `rng`, always in the same order). */
export function randomDistortion(rng: RandomSource, ranges: DistortionRanges = DEFAULT_DISTORTION): Distortion {
  const u = (r: number) => r * (2 * rng.next() - 1);
  return {
    dx: u(ranges.translate),
    dy: u(ranges.translate),
    scale: 1 + u(ranges.scale),
    squeeze: 1 + u(ranges.squeeze),
    shear: u(ranges.shear),
  };
}

/** Checks the ranges of a distortion config; the error names the field. */
export function checkDistortionRanges(raw: unknown, where: string): DistortionRanges {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new TypeError(
      `${where} must be an object with translate, scale, squeeze and shear, got ${JSON.stringify(raw)}`,
    );
  }
  const r = raw as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!(key in DEFAULT_DISTORTION)) {
      throw new TypeError(`${where} has an unknown field "${key}"; expected translate, scale, squeeze, shear`);
    }
  }
  const field = (name: keyof DistortionRanges, max: number) => {
    const v = r[name] ?? DEFAULT_DISTORTION[name];
    if (typeof v !== "number" || !(v >= 0 && v < max)) {
      throw new RangeError(`${where}.${name} must be a number in [0, ${max}), got ${JSON.stringify(v)}`);
    }
    return v;
  };
  return {
    translate: field("translate", 16),
    scale: field("scale", 1),
    squeeze: field("squeeze", 1),
    shear: field("shear", 2),
  };
}

/**
 * Writes the distorted `rows` x `cols` image `src` (at `srcOffset`) to `out`
 * (at `outOffset`). Output pixel p samples the source at the inverse of
 * x' = scale * squeeze * (x + shear * y) + dx, y' = scale / squeeze * y + dy,
 * coordinates taken from the image centre.
 *
 * @example
 * ```ts
 * import { distortInto, NO_DISTORTION } from "./distort.ts";
 * const img = Float32Array.from({ length: 16 }, (_, i) => i);
 * const out = new Float32Array(16);
 * distortInto(img, 0, 4, 4, out, 0, { ...NO_DISTORTION, dx: 1 }, -1);
 * if (out[1] !== 0 || out[0] !== -1) throw new Error("a shift right by one pixel");
 * ```
 */
export function distortInto(
  src: Float32Array,
  srcOffset: number,
  rows: number,
  cols: number,
  out: Float32Array,
  outOffset: number,
  d: Distortion,
  background: number,
): void {
  const cx = (cols - 1) / 2, cy = (rows - 1) / 2;
  const sx = d.scale * d.squeeze, sy = d.scale / d.squeeze;
  for (let r = 0; r < rows; r++) {
    const y = (r - cy - d.dy) / sy;
    const v = y + cy;
    const v0 = Math.floor(v), fv = v - v0;
    for (let c = 0; c < cols; c++) {
      const u = (c - cx - d.dx) / sx - d.shear * y + cx;
      const u0 = Math.floor(u), fu = u - u0;
      const at = (rr: number, cc: number) =>
        rr >= 0 && rr < rows && cc >= 0 && cc < cols ? src[srcOffset + rr * cols + cc] : background;
      const top = at(v0, u0) * (1 - fu) + at(v0, u0 + 1) * fu;
      const bottom = at(v0 + 1, u0) * (1 - fu) + at(v0 + 1, u0 + 1) * fu;
      out[outOffset + r * cols + c] = top * (1 - fv) + bottom * fv;
    }
  }
}
