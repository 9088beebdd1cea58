/**
 * One-pattern SDLM training of the faithful lenet5, timed as bench/compare.ts
 * times the engine's row (the same model, seed, random pool, curvature
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

/** Median patterns/s over `reps` runs of at least `seconds` each, after a warm-up run; and the kernels used. */
export function sdlmRate(seconds: number, reps: number): { patternsPerSecond: number; kernels: string } {
  const p = PRESETS.lenet5;
  const model = buildModel(p.graph, { registry: defaultRegistry, seed: 1 });
  const POOL = 256, { x, labels } = pool(model, POOL, 2);
  const optimizer = createOptimizer(p.optimizer, model, defaultRegistry);
  estimateCurvature(model, x, labels, 100);
  const size = model.inputSize, lr = p.schedule?.[0];
  let s = 0;
  const run = (secs: number) => {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < secs * 1000) {
      trainStep(model, optimizer, x.subarray(s * size, (s + 1) * size), labels.subarray(s, s + 1), 1, lr);
      s = s + 2 > POOL ? 0 : s + 1;
      calls++;
      t = performance.now();
    }
    return calls / ((t - t0) / 1000);
  };
  run(Math.max(0.3, seconds));
  const rates = Array.from({ length: reps }, () => run(seconds)).sort((a, b) => a - b);
  return { patternsPerSecond: rates[Math.floor(rates.length / 2)], kernels: model.kernels };
}
