/**
 * How bench/compare.ts times its rows (median rate of calls cycling through a
 * random pool), and one-pattern SDLM training of the faithful lenet5 timed as
 * compare.ts times the engine's row (the same model, seed, pool, curvature
 * estimate and cycling), in any runtime: the page's training worker runs it
 * in Chromium for compare.ts's `engine-chromium` row. No Deno API.
 *
 * @module
 */
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type Model } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import { PRESETS } from "../presets/presets.ts";

/** A pool of random inputs in the paper's range and labels, from a seed (what every bench row trains and infers on). */
export function pool(model: Model, count: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(count * model.inputSize).map(() => rng.uniform(-0.1, 1.175));
  const labels = Int32Array.from({ length: count }, () => rng.int(model.classes));
  return { x, labels };
}

/**
 * Median samples/s of `fn` (one call = `samples` samples) over `reps` timed
 * runs of at least `seconds` each, after a warm-up run.
 */
export async function measure(fn: () => unknown, samples: number, seconds: number, reps: number): Promise<number> {
  const run = async (secs: number) => {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < secs * 1000) {
      await fn();
      calls++;
      t = performance.now();
    }
    return (calls * samples) / ((t - t0) / 1000);
  };
  await run(Math.max(0.3, seconds));
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) rates.push(await run(seconds));
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

/** A call on `batch` samples from offset `at` of the pool. */
type Call = (x: Float32Array, at: number) => unknown;

/** Calls of `fn` cycling through a pool of `pool` samples of `size` values in `x`, `batch` samples at a time. */
export function cycling(batch: number, size: number, fn: Call, x: Float32Array, pool: number): () => unknown {
  let s = 0;
  return () => {
    const r = fn(x.subarray(s * size, (s + batch) * size), s);
    s = s + 2 * batch > pool ? 0 : s + batch;
    return r;
  };
}

/** Median patterns/s over `reps` runs of at least `seconds` each, after a warm-up run; and the kernels used. */
export async function sdlmRate(seconds: number, reps: number): Promise<{ patternsPerSecond: number; kernels: string }> {
  const p = PRESETS.lenet5;
  const model = buildModel(p.graph, { registry: defaultRegistry, seed: 1 });
  const POOL = 256, { x, labels } = pool(model, POOL, 2);
  const optimizer = createOptimizer(p.optimizer, model, defaultRegistry);
  estimateCurvature(model, x, labels, 100);
  const lr = p.schedule?.[0];
  const step = (xs: Float32Array, s: number) => trainStep(model, optimizer, xs, labels.subarray(s, s + 1), 1, lr);
  const patternsPerSecond = await measure(cycling(1, model.inputSize, step, x, POOL), 1, seconds, reps);
  return { patternsPerSecond, kernels: model.kernels };
}
