/**
 * Boosting as the paper built boosted LeNet-4 (section III-C): the first net
 * trained as usual; the second on patterns filtered by the first, half of
 * them ones it gets right and half ones it gets wrong (before each pattern a
 * coin says which kind to wait for, and patterns are drawn until one of that
 * kind comes); the third on new patterns on which the first two disagree. At
 * test time the three nets' outputs are added. The candidates are training
 * patterns drawn at random and distorted at random, since undistorted ones
 * run out ("distorted images were needed to find enough patterns").
 *
 * Scores are added as the nets give them. For RBF distances to the +-1 place
 * codes this is adding the outputs: sum_n ||x_n - t_i||^2 is smallest for the
 * class i whose code is nearest the nets' summed outputs.
 *
 * @module
 */
import { distortInto, type DistortionRanges, randomDistortion } from "../data/distort.ts";
import { modelInputs } from "../data/prepare.ts";
import type { Split } from "../data/split.ts";
import type { Model } from "./model.ts";
import { Rng } from "./rng.ts";

/** Which patterns a filtered training set keeps. */
export type BoostFilter = "half-right" | "disagree";

/** Options of {@linkcode boostSet}. */
export interface BoostSetOptions {
  /** How many patterns to keep. */
  readonly count: number;
  /** Seed of the draws, the distortions and the coin. */
  readonly seed: number;
  /** The distortions of the candidates. */
  readonly distort: DistortionRanges;
  /** `"half-right"` (the second net's set, filtered by `nets[0]`) or `"disagree"` (the third's, by `nets[0..1]`). */
  readonly filter: BoostFilter;
  /** Give up after this many candidates (default 200 per pattern kept). */
  readonly maxDraws?: number;
  /** Called after each block of candidates with the patterns kept and the candidates drawn so far. */
  readonly progress?: (kept: number, drawn: number) => void;
}

/** A filtered training set: raw grey levels and labels, as the images of a split. */
export interface BoostSet {
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  /** Candidates drawn to find them. */
  readonly drawn: number;
}

/** The coin of the "half-right" filter is `new Rng(seed + COIN_SEED_OFFSET)`: draw i < 0.5 wants pattern i right. */
export const COIN_SEED_OFFSET = 0x9e3779b9;

/** Candidates classified at a time. */
const BLOCK = 256;

/** The classes `model` gives raw images (count x rows x cols), prepared and preprocessed as its graph says. */
export function classify(model: Model, images: Uint8Array, count: number, rows: number, cols: number): Int32Array {
  model.forward(modelInputs({ images, labels: new Uint8Array(count), count, rows, cols }, model), count);
  return model.predictions().slice();
}

/**
 * Draws training patterns at random, distorts each (the raw image, background 0, rounded to grey levels) and keeps
 * those `filter` wants, until `count` are kept.
 */
export function boostSet(split: Split, nets: readonly Model[], options: BoostSetOptions): BoostSet {
  const { count, filter } = options, size = split.rows * split.cols;
  const needed = filter === "half-right" ? 1 : 2;
  if (nets.length < needed) throw new RangeError(`Cannot filter "${filter}" with ${nets.length} net(s)`);
  const maxDraws = options.maxDraws ?? 200 * count;
  const rng = new Rng(options.seed), coin = new Rng(options.seed + COIN_SEED_OFFSET);
  const images = new Uint8Array(count * size), labels = new Uint8Array(count);
  const block = new Uint8Array(BLOCK * size), blockLabels = new Uint8Array(BLOCK);
  const src = new Float32Array(size), out = new Float32Array(size);
  let kept = 0, drawn = 0, wantRight = coin.next() < 0.5;
  while (kept < count) {
    if (drawn >= maxDraws) {
      throw new RangeError(
        `Cannot find ${count} patterns for "${filter}" in ${drawn.toLocaleString("en-US")} candidates: ` +
          `${kept} found (the nets make too few mistakes or too many)`,
      );
    }
    for (let b = 0; b < BLOCK; b++) {
      const s = Math.floor(rng.next() * split.count);
      for (let i = 0; i < size; i++) src[i] = split.images[s * size + i];
      distortInto(src, 0, split.rows, split.cols, out, 0, randomDistortion(rng, options.distort), 0);
      for (let i = 0; i < size; i++) block[b * size + i] = Math.min(255, Math.max(0, Math.round(out[i])));
      blockLabels[b] = split.labels[s];
    }
    const answers = nets.slice(0, needed).map((net) => classify(net, block, BLOCK, split.rows, split.cols));
    for (let b = 0; b < BLOCK && kept < count; b++) {
      drawn++;
      const keep = filter === "disagree"
        ? answers[0][b] !== answers[1][b]
        : (answers[0][b] === blockLabels[b]) === wantRight;
      if (!keep) continue;
      images.set(block.subarray(b * size, (b + 1) * size), kept * size);
      labels[kept++] = blockLabels[b];
      if (filter === "half-right") wantRight = coin.next() < 0.5;
    }
    options.progress?.(kept, drawn);
  }
  return { images, labels, drawn };
}

/** Patterns scored at a time by {@linkcode scoresOf}. */
const SCORE_BATCH = 1000;

/** The scores of `n` preprocessed inputs, a batch at a time. */
export function scoresOf(net: Model, x: Float32Array, n: number): Float64Array {
  const k = net.classes, out = new Float64Array(n * k);
  for (let start = 0; start < n; start += SCORE_BATCH) {
    const m = Math.min(SCORE_BATCH, n - start);
    out.set(net.forward(x.subarray(start * net.inputSize, (start + m) * net.inputSize), m), start * k);
  }
  return out;
}

/** Scores added together, element by element, in the order given. */
export function addScores(scores: readonly Float64Array[]): Float64Array {
  const sum = new Float64Array(scores[0].length);
  for (const y of scores) for (let i = 0; i < sum.length; i++) sum[i] += y[i];
  return sum;
}

/** The nets' scores of `n` preprocessed inputs added together (every net reads the same input). */
export function ensembleScores(nets: readonly Model[], x: Float32Array, n: number): Float64Array {
  return addScores(nets.map((net) => scoresOf(net, x, n)));
}
