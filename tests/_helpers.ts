/**
 * Test helpers: a float64 harness around one layer, finite differences and
 * explicit Jacobians. Everything here uses only a plugin's `forward` (or a
 * loss's `forward`), so it is a reference independent of the backward code.
 */
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type BuiltLayer, type GraphSpec, type LayerSpec, type Model } from "../engine/model.ts";
import type { Registries } from "../engine/registry.ts";
import type { Split } from "../data/mnist.ts";
import { Rng } from "../engine/rng.ts";
import type { Floats } from "../engine/types.ts";

/** Fills `a` with uniform values in [lo, hi). */
export function randomFill<T extends Floats>(a: T, rng: Rng, lo = -1, hi = 1): T {
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform(lo, hi);
  return a;
}

/**
 * Largest violation of |a - b| <= abs + rel * max(|a|, |b|), as a message, or
 * null when every element is within tolerance.
 */
export function compare(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rel: number,
  abs: number,
): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} != ${expected.length}`;
  let worst = 0, at = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (a === e) continue;
    const excess = Math.abs(a - e) / (abs + rel * Math.max(Math.abs(a), Math.abs(e)));
    if (!(excess <= 1)) {
      if (!(excess <= worst)) {
        worst = excess;
        at = i;
      }
    }
  }
  return at < 0 ? null : `element ${at}: got ${actual[at]}, expected ${expected[at]} (rel ${rel}, abs ${abs})`;
}

/** Throws when `compare` finds a violation. */
export function assertAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  rel = 1e-6,
  abs = 1e-9,
): void {
  const problem = compare(actual, expected, rel, abs);
  if (problem) throw new Error(`${what}: ${problem}`);
}

/** One layer in float64 with random params, input and batch, ready to call its kernels. */
export interface Harness {
  layer: BuiltLayer;
  n: number;
  x: Float64Array;
  y: Float64Array;
  /** Runs forward on (x, params) into a fresh array. */
  run(): Float64Array;
}

/**
 * Builds one layer alone (float64) and gives it random inputs and random
 * trainable parameters (and fixed ones too, when `randomizeFixed`).
 */
export function harness(
  spec: LayerSpec,
  input: number[],
  options: { n?: number; seed?: number; registry?: Registries; xRange?: [number, number]; randomizeFixed?: boolean } =
    {},
): Harness {
  const graph: GraphSpec = { input, layers: [spec], loss: { type: "mse-rbf" } };
  const model = buildModel(graph, { registry: options.registry ?? defaultRegistry, dtype: "float64", seed: 1 });
  const layer = model.layers[0];
  const rng = new Rng(options.seed ?? 42);
  layer.specs.forEach((s, i) => {
    if ((s.trainable ?? true) || options.randomizeFixed) randomFill(layer.params[i], rng, -0.8, 0.8);
  });
  const n = options.n ?? 2;
  const [lo, hi] = options.xRange ?? [-1.5, 1.5];
  const x = randomFill(new Float64Array(n * layer.inSize), rng, lo, hi);
  const run = () => {
    const y = new Float64Array(n * layer.outSize);
    layer.plugin.forward(layer, x, y, n);
    return y;
  };
  return { layer, n, x, y: run(), run };
}

/** f at v[j] + eps and at v[j] - eps (v[j] perturbed in place and restored). */
function around<T>(v: Floats, j: number, eps: number, f: () => T): [T, T] {
  const keep = v[j];
  v[j] = keep + eps;
  const up = f();
  v[j] = keep - eps;
  const down = f();
  v[j] = keep;
  return [up, down];
}

/**
 * Explicit Jacobian of f: R^m -> R^k at `v` by central differences; f reads
 * `v` (perturbed in place and restored). Returns J as rows of outputs.
 */
export function jacobian(v: Floats, f: () => Float64Array, eps = 1e-5): Float64Array[] {
  const J = Array.from({ length: f().length }, () => new Float64Array(v.length));
  for (let j = 0; j < v.length; j++) {
    const [up, down] = around(v, j, eps, f);
    J.forEach((row, i) => row[j] = (up[i] - down[i]) / (2 * eps));
  }
  return J;
}

/** Diagonal second derivatives d2 f_i / dv_j^2 by second differences: rows of outputs. */
export function secondDiagonal(v: Floats, f: () => Float64Array, eps = 1e-4): Float64Array[] {
  const mid = f();
  const H = Array.from({ length: mid.length }, () => new Float64Array(v.length));
  for (let j = 0; j < v.length; j++) {
    const [up, down] = around(v, j, eps, f);
    H.forEach((row, i) => row[j] = (up[i] - 2 * mid[i] + down[i]) / (eps * eps));
  }
  return H;
}

/** Gradient of a scalar function of `v` by central differences. */
export function numericGradient(v: Floats, f: () => number, eps = 1e-6): Float64Array {
  return Float64Array.from(v, (_, j) => {
    const [up, down] = around(v, j, eps, f);
    return (up - down) / (2 * eps);
  });
}

/** Bytes of a typed array, for bit-for-bit comparisons. */
export function bytes(a: Floats): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

/** Deterministic synthetic images: class c is a bright bar at a class-specific place, plus noise. */
export function syntheticImages(count: number, classes: number, side: number, seed: number) {
  const rng = new Rng(seed);
  const x = new Float32Array(count * side * side);
  const labels = new Uint8Array(count);
  for (let s = 0; s < count; s++) {
    const c = s % classes;
    labels[s] = c;
    for (let p = 0; p < side * side; p++) {
      const row = Math.floor(p / side), col = p % side;
      const on = c % 2 === 0 ? row === 1 + c : col === 1 + c;
      x[s * side * side + p] = (on ? 1.0 : -0.1) + rng.uniform(-0.2, 0.2);
    }
  }
  return { x, labels };
}

/** A random MNIST-shaped split (28x28 grey levels, labels 0..9) from a seed. */
export function syntheticSplit(count: number, seed: number): Split {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: count * 28 * 28 }, () => (rng.next() < 0.2 ? rng.int(256) : 0));
  const labels = Uint8Array.from({ length: count }, () => rng.int(10));
  return { images, labels, count, rows: 28, cols: 28 };
}

/** Mean loss of a model over a whole data set, in batches. */
export function datasetLoss(model: Model, x: Float32Array, labels: Uint8Array, batch = 16): number {
  let total = 0;
  const size = model.inputSize;
  for (let s = 0; s < labels.length; s += batch) {
    const n = Math.min(batch, labels.length - s);
    model.forward(x.subarray(s * size, (s + n) * size), n);
    total += model.lossValue(labels.subarray(s, s + n)) * n;
  }
  return total / labels.length;
}
