/** Data-parallel training: deterministic for a seed and thread count, and the same updates as one thread. */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { buildModel } from "../engine/model.ts";
import { ParallelTrainer } from "../engine/parallel.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import { PRESETS } from "../presets/presets.ts";
import { assertAllClose, bytes, randomFill } from "./_helpers.ts";

const COUNT = 48;

function setup(preset: string) {
  const p = PRESETS[preset];
  const model = buildModel(p.graph, { registry: defaultRegistry, seed: 3 });
  const rng = new Rng(4);
  const x = randomFill(new Float32Array(COUNT * model.inputSize), rng, -0.1, 1.175);
  const labels = Int32Array.from({ length: COUNT }, () => rng.int(10));
  const optimizer = createOptimizer(p.optimizer, model, defaultRegistry);
  if (optimizer.plugin.needsCurvature) estimateCurvature(model, x, labels, 16);
  return { model, x, labels, optimizer };
}

/** Six updates of 16, 16, 7, 1, 16, 16 patterns. */
const BATCHES = [[0, 16], [16, 16], [32, 7], [39, 1], [0, 16], [16, 16]];

async function train(preset: string, threads: number | null) {
  const { model, x, labels, optimizer } = setup(preset);
  const size = model.inputSize;
  const par = threads === null ? null : await ParallelTrainer.create(model, { threads, capacity: 16 });
  const losses: number[] = [];
  try {
    for (const [s, n] of BATCHES) {
      const xs = x.subarray(s * size, (s + n) * size), ls = labels.subarray(s, s + n);
      losses.push(par ? par.trainStep(optimizer, xs, ls, n) : trainStep(model, optimizer, xs, ls, n));
    }
  } finally {
    par?.close();
  }
  return { params: model.params, losses };
}

for (const preset of ["lenet5-modern", "lenet5"]) {
  Deno.test(`parallel ${preset}: two threads repeat bit for bit and agree with one thread`, async () => {
    const a = await train(preset, 2), b = await train(preset, 2), one = await train(preset, null);
    assert.deepEqual(bytes(a.params), bytes(b.params));
    assert.deepEqual(a.losses, b.losses);
    // Only the order of the gradient sums differs from one thread.
    assertAllClose(a.params, one.params, "params", 1e-4, 1e-6);
    assertAllClose(a.losses, one.losses, "losses", 1e-5, 1e-7);
  });
}

Deno.test("parallel: one thread is trainStep, bit for bit", async () => {
  const a = await train("lenet5-modern", 1), one = await train("lenet5-modern", null);
  assert.deepEqual(bytes(a.params), bytes(one.params));
  assert.deepEqual(a.losses, one.losses);
});

Deno.test("parallel: forward on three threads gives the model's scores", async () => {
  const { model, x } = setup("lenet5");
  const par = await ParallelTrainer.create(model, { threads: 3, capacity: 16 });
  try {
    for (const n of [16, 5, 1]) {
      const scores = Float32Array.from(par.forward(x, n));
      assert.deepEqual(bytes(scores), bytes(model.forward(x, n)));
    }
    assert.throws(() => par.forward(x, 17), /batch size must be an integer in 1\.\.16, got 17/);
  } finally {
    par.close();
  }
});

Deno.test("parallel: bad thread counts and storage are errors naming the field", async () => {
  const { model } = setup("lenet5-modern");
  await assert.rejects(() => ParallelTrainer.create(model, { threads: 0 }), /threads must be an integer in 1\.\.64/);
  assert.throws(
    () => buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, storage: { params: new Float32Array(3) } }),
    /storage\.params must be a Float32Array of 60840 values/,
  );
});
