/**
 * Nearest neighbours with the Euclidean distance (the paper's K-NN rows of
 * Fig. 9), on the engine's kernels. ||x - t||^2 = ||x||^2 - 2 (t.x - ||t||^2 / 2),
 * so for a test pattern x the nearest training pattern t is the largest output
 * of a `full` layer whose weight rows are the training patterns and whose
 * biases are -||t||^2 / 2: one batched matrix product per block of test
 * patterns, on whichever kernels the model runs (WebAssembly SIMD by default).
 *
 * Distances are float32 sums: two training patterns within about 1e-5 of the
 * same distance may swap places against an exact computation.
 *
 * @module
 */
import { buildModel, type Model } from "./model.ts";
import type { Registries } from "./registry.ts";

/** The training patterns a {@linkcode NearestNeighbours} compares against. */
export interface Reference {
  /** `count` patterns of `size` values each, one after the other. */
  readonly x: Float32Array;
  /** Their classes. */
  readonly labels: ArrayLike<number>;
  /** Values per pattern. */
  readonly size: number;
}

/** The `k` nearest training patterns of each test pattern, nearest first. */
export interface Neighbours {
  /** k per test pattern: indices into the reference. */
  readonly index: Int32Array;
  /** k per test pattern: the squared Euclidean distances. */
  readonly distance: Float32Array;
  /** Neighbours per pattern. */
  readonly k: number;
}

/** Options of {@linkcode nearestNeighbours}. */
export interface NearestOptions {
  /** Where the `full` layer is looked up (the built-ins: `defaultRegistry`). */
  readonly registry: Registries;
  /** The kernels, as `buildModel` takes them; default `"auto"`. */
  readonly kernels?: "js" | "wasm" | "auto";
}

/** A classifier by the nearest training patterns. */
export interface NearestNeighbours {
  /** The `k` nearest training patterns of each of the `n` patterns of `x` (n x size values). */
  search(x: Float32Array, n: number, k: number): Neighbours;
  /** The weights and kernels, released when done. */
  readonly model: Model;
}

/** Test patterns per matrix product. */
const BLOCK = 64;

/**
 * Builds the nearest-neighbour search over `reference`.
 *
 * @example
 * ```ts
 * import { defaultRegistry } from "../builtins.ts";
 * import { nearestNeighbours, vote } from "./nearest.ts";
 * const reference = { x: new Float32Array([0, 0, 1, 1, 5, 5]), labels: [0, 1, 2], size: 2 };
 * const nn = nearestNeighbours(reference, { registry: defaultRegistry });
 * const found = nn.search(new Float32Array([0.9, 1.2]), 1, 2);
 * if (found.index[0] !== 1 || found.index[1] !== 0) throw new Error("nearest first");
 * if (vote(found, reference.labels)[0] !== 1) throw new Error("the nearest's class breaks a tie");
 * ```
 */
export function nearestNeighbours(reference: Reference, options: NearestOptions): NearestNeighbours {
  const { x: ref, size } = reference, count = reference.labels.length;
  if (!(size >= 1) || ref.length !== count * size) {
    throw new RangeError(
      `Cannot search ${count} reference patterns of ${size} values: they hold ${ref.length} values, expected ${
        count * size
      }`,
    );
  }
  const model = buildModel(
    {
      name: "nearest",
      input: [size],
      layers: [{ type: "full", units: count }],
      loss: { type: "softmax-cross-entropy" },
    },
    { registry: options.registry, kernels: options.kernels ?? "auto" },
  );
  const [weight, bias] = model.layers[0].params;
  weight.set(ref);
  for (let t = 0; t < count; t++) {
    let s = 0;
    for (let j = t * size; j < (t + 1) * size; j++) s += ref[j] * ref[j];
    bias[t] = -s / 2;
  }
  return {
    model,
    search(x, n, k) {
      if (!Number.isInteger(k) || k < 1 || k > count) {
        throw new RangeError(`Cannot find ${k} neighbours among ${count} reference patterns: k must be in 1..${count}`);
      }
      if (x.length < n * size) throw new RangeError(`Cannot search ${n} patterns of ${size} values in ${x.length}`);
      const index = new Int32Array(n * k).fill(-1), distance = new Float32Array(n * k).fill(Infinity);
      for (let start = 0; start < n; start += BLOCK) {
        const m = Math.min(BLOCK, n - start);
        const scores = model.forward(x.subarray(start * size, (start + m) * size), m);
        for (let b = 0; b < m; b++) {
          const p = start + b, row = scores.subarray(b * count, (b + 1) * count);
          let norm = 0;
          for (let j = p * size; j < (p + 1) * size; j++) norm += x[j] * x[j];
          // Keep the k largest scores, largest first; a tie keeps the lower index first.
          const best = new Float64Array(k).fill(-Infinity), at = index.subarray(p * k, (p + 1) * k);
          for (let t = 0; t < count; t++) {
            const s = row[t];
            if (s <= best[k - 1]) continue;
            let i = k - 1;
            while (i > 0 && s > best[i - 1]) {
              best[i] = best[i - 1];
              at[i] = at[i - 1];
              i--;
            }
            best[i] = s;
            at[i] = t;
          }
          for (let i = 0; i < k; i++) distance[p * k + i] = Math.max(0, norm - 2 * best[i]);
        }
      }
      return { index, distance, k };
    },
  };
}

/**
 * The class of each pattern by its neighbours' vote: the class most of them have; between classes with as many votes,
 * the one of the nearest neighbour among them.
 */
export function vote(found: Neighbours, labels: ArrayLike<number>): Int32Array {
  const { k, index } = found, n = index.length / k;
  const out = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const votes = new Map<number, number>();
    for (let i = 0; i < k; i++) {
      const c = labels[index[p * k + i]];
      votes.set(c, (votes.get(c) ?? 0) + 1);
    }
    const most = Math.max(...votes.values());
    for (let i = 0; i < k; i++) {
      const c = labels[index[p * k + i]];
      if (votes.get(c) === most) {
        out[p] = c;
        break;
      }
    }
  }
  return out;
}
