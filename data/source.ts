/**
 * Where training and evaluation read their patterns from: images of a split,
 * preprocessed as the paper does (and distorted at random while training),
 * or any tensors for a graph whose input is not an image.
 *
 * @module
 */
import type { RandomSource, Shape } from "../engine/types.ts";
import { distortInto, type DistortionRanges, randomDistortion } from "./distort.ts";
import { PAPER_PREPROCESS, preprocessInto } from "./preprocess.ts";
import type { Split } from "./split.ts";

/** What a source is checked against: the model's input and its classes. */
export interface InputSpec {
  /** Per-sample input shape. */
  readonly inputShape: Shape;
  /** Classes the model tells apart (labels are 0..classes - 1). */
  readonly classes: number;
  /** Pixels of background added on each side of an image to make the input (the graph's `pad`); absent: 2. */
  readonly inputPad?: number;
}

/** Patterns with their labels, read into batches by index. */
export interface DataSource {
  /** Number of patterns. */
  readonly count: number;
  /** What messages name it by (e.g. the images' file); absent for data made in memory. */
  readonly source?: string;
  /** Throws a RangeError naming the source (`what` names its role) when it does not fit the model. */
  check(model: InputSpec, what: string): void;
  /**
   * Writes the inputs and labels of patterns `indices` into `x` and
   * `labels`; `rng`, given while training, draws the random distortions.
   */
  read(indices: ArrayLike<number>, x: Float32Array, labels: Uint8Array, rng?: RandomSource): void;
}

/**
 * Checks that a split's images, padded by the model's `inputPad` as the
 * paper's preprocessing pads them, are the model's input, and that it holds
 * patterns; throws a RangeError naming the images' file otherwise. `what`
 * names the split.
 */
export function checkSplitFits(model: InputSpec, split: Split, what: string): void {
  const name = split.source ? `${what} "${split.source}"` : what;
  const pad = model.inputPad ?? PAPER_PREPROCESS.pad;
  if (!(split.count >= 1)) throw new RangeError(`Cannot use the ${name}: it holds no patterns`);
  const h = split.rows + 2 * pad, w = split.cols + 2 * pad;
  const shape = model.inputShape;
  const [maps, rows, cols] = shape.length === 3 ? shape : shape.length === 2 ? [1, ...shape] : [shape[0], 1, 1];
  if (maps !== 1 || rows !== h || cols !== w) {
    const want = maps === 1 && rows > 2 * pad && cols > 2 * pad ? ` (${rows - 2 * pad}x${cols - 2 * pad} images)` : "";
    const fit = (rows - split.rows) / 2;
    const hint = maps === 1 && Number.isInteger(fit) && fit >= 0 && cols - split.cols === 2 * fit
      ? `; a graph "pad" of ${fit} would fit them`
      : "";
    throw new RangeError(
      `Cannot use the ${name}: its images are ${split.rows}x${split.cols} (${h}x${w} after the ${pad}-pixel ` +
        `padding), but the model's input is ${shape.join("x")}${want}${hint}`,
    );
  }
  if (split.images.length < split.count * split.rows * split.cols || split.labels.length < split.count) {
    throw new RangeError(`Cannot use the ${name}: it holds fewer pixels or labels than ${split.count} patterns need`);
  }
  checkLabels(split.labels, split.count, model.classes, (i) => `Cannot use the ${name}: image ${i}`);
}

function checkLabels(labels: ArrayLike<number>, count: number, k: number, which: (i: number) => string): void {
  for (let i = 0; i < count; i++) {
    if (labels[i] >= k) {
      throw new RangeError(
        `${which(i)} is labelled ${labels[i]}, but the model has ${k} class${k === 1 ? "" : "es"} (0..${k - 1})`,
      );
    }
  }
}

/**
 * The padding on each side that makes a split's images `inSize` values each: the model's `inputPad`, found from the
 * input size (a split checked by {@linkcode checkSplitFits} always has one).
 */
export function padOf(split: Pick<Split, "rows" | "cols">, inSize: number): number {
  for (let pad = 0; (split.rows + 2 * pad) * (split.cols + 2 * pad) <= inSize; pad++) {
    if ((split.rows + 2 * pad) * (split.cols + 2 * pad) === inSize) return pad;
  }
  throw new RangeError(
    `Cannot read ${split.rows}x${split.cols} images into inputs of ${inSize} values: no equal padding on every side ` +
      `makes them that size`,
  );
}

/** Preprocessed inputs and labels of the patterns `indices` of a split. */
export function gather(split: Split, indices: ArrayLike<number>, x: Float32Array, labels: Uint8Array): void {
  const size = split.rows * split.cols;
  const inSize = x.length / Math.max(1, labels.length), pad = padOf(split, inSize);
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i];
    preprocessInto(split.images.subarray(s * size, (s + 1) * size), split.rows, split.cols, x, i * inSize, { pad });
    labels[i] = split.labels[s];
  }
}

/** Is `data` a split of images (rather than a source)? */
export function isSplit(data: Split | DataSource): data is Split {
  return "images" in data;
}

/**
 * The images of a split, preprocessed as the paper does; with `distort`,
 * each pattern read while training (with a random stream) is distorted at
 * random, every map alike.
 *
 * @example
 * ```ts
 * import { imageSource } from "./source.ts";
 * const split = { images: new Uint8Array(2 * 28 * 28).fill(255), labels: new Uint8Array([3, 4]), count: 2, rows: 28, cols: 28 };
 * const source = imageSource(split);
 * const x = new Float32Array(32 * 32), labels = new Uint8Array(1);
 * source.read([1], x, labels);
 * if (labels[0] !== 4 || Math.abs(x[2 * 32 + 2] - 1.175) > 1e-6) throw new Error("the second image, padded and scaled");
 * ```
 */
export function imageSource(split: Split, options: { distort?: DistortionRanges } = {}): DataSource {
  const ranges = options.distort;
  let scratch = new Float32Array(0);
  return {
    count: split.count,
    source: split.source,
    check: (model, what) => checkSplitFits(model, split, what),
    read(indices, x, labels, rng) {
      gather(split, indices, x, labels);
      if (!ranges || !rng) return;
      const n = indices.length, pad = padOf(split, x.length / Math.max(1, labels.length));
      const h = split.rows + 2 * pad, w = split.cols + 2 * pad, size = h * w;
      if (scratch.length !== size) scratch = new Float32Array(size);
      for (let i = 0; i < n; i++) {
        const d = randomDistortion(rng, ranges);
        scratch.set(x.subarray(i * size, (i + 1) * size));
        distortInto(scratch, 0, h, w, x, i * size, d, PAPER_PREPROCESS.background);
      }
    },
  };
}

/**
 * Any inputs (count x size floats, pattern after pattern) with their labels,
 * for a graph whose input is not an image.
 *
 * @example
 * ```ts
 * import { tensorSource } from "./source.ts";
 * const source = tensorSource(new Float32Array([0, 1, 1, 0]), new Uint8Array([1, 0]), [2]);
 * const x = new Float32Array(2), labels = new Uint8Array(1);
 * source.read([1], x, labels);
 * if (x[0] !== 1 || labels[0] !== 0) throw new Error("the second pattern");
 * ```
 */
export function tensorSource(
  inputs: Float32Array,
  labels: ArrayLike<number>,
  shape: Shape,
  source?: string,
): DataSource {
  const size = shape.reduce((a, b) => a * b, 1), count = labels.length;
  // "training images" in fit's words: these are patterns.
  const name = (what: string) => {
    const role = what.replace(/\bimages\b/, "patterns");
    return source ? `${role} "${source}"` : role;
  };
  return {
    count,
    source,
    check(model, what) {
      if (!(count >= 1)) throw new RangeError(`Cannot use the ${name(what)}: it holds no patterns`);
      if (shape.join("x") !== model.inputShape.join("x") || inputs.length < count * size) {
        throw new RangeError(
          `Cannot use the ${name(what)}: ${count} patterns of ${shape.join("x")} in ${inputs.length} floats, ` +
            `but the model's input is ${model.inputShape.join("x")}`,
        );
      }
      checkLabels(labels, count, model.classes, (i) => `Cannot use the ${name(what)}: pattern ${i}`);
    },
    read(indices, x, out) {
      for (let i = 0; i < indices.length; i++) {
        const s = indices[i];
        x.set(inputs.subarray(s * size, (s + 1) * size), i * size);
        out[i] = labels[s];
      }
    },
  };
}
