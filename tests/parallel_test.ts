/** Data-parallel training: deterministic for a seed and thread count, and the same updates as one thread. */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { gather } from "../data/source.ts";
import { evaluate } from "../engine/evaluate.ts";
import { fit, patternOrder } from "../engine/fit.ts";
import { buildModel } from "../engine/model.ts";
import { ParallelTrainer } from "../engine/parallel.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import { PRESETS } from "../presets/presets.ts";
import { assertAllClose, bytes, randomFill, syntheticSplit } from "./_helpers.ts";

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
      // The predictions trainStep reports are those of the weights before its update.
      model.forward(xs, n);
      const before = model.predictions(), predicted = new Int32Array(n).fill(-1);
      losses.push(
        par
          ? par.trainStep(optimizer, xs, ls, n, undefined, predicted)
          : trainStep(model, optimizer, xs, ls, n, undefined, predicted),
      );
      assert.deepEqual(predicted, before, `batch at ${s} of ${n}, ${threads ?? "no"} threads`);
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

Deno.test("parallel fit: two threads repeat bit for bit; parallel evaluation equals the serial one", async () => {
  const data = { train: syntheticSplit(40, 1), test: syntheticSplit(30, 2) };
  const run = async (threads: number) => {
    const model = buildModel(PRESETS["lenet5-modern"].graph, { registry: defaultRegistry, seed: 1 });
    const optimizer = createOptimizer(PRESETS["lenet5-modern"].optimizer, model, defaultRegistry);
    const state = await fit(model, optimizer, data, { passes: 2, batch: 8, seed: 3, threads });
    return { model, state };
  };
  const a = await run(2), b = await run(2);
  assert.deepEqual(bytes(a.model.params), bytes(b.model.params));
  const curve = (r: typeof a) => r.state.history.map((h) => [h.loss, h.testError]);
  assert.deepEqual(curve(a), curve(b));
  const par = await ParallelTrainer.create(a.model, { threads: 2, capacity: 16 });
  try {
    const serial = evaluate(a.model, data.test, { batch: 16 }),
      parallel = evaluate(a.model, data.test, { parallel: par });
    assert.deepEqual(parallel.predictions, serial.predictions);
    assert.ok(Math.abs(parallel.loss - serial.loss) < 1e-6 * Math.max(1, serial.loss));
  } finally {
    par.close();
  }
});

Deno.test("fit: the running error counts each pattern by the weights just before its update", async () => {
  const data = { train: syntheticSplit(40, 1), test: syntheticSplit(10, 2) };
  const p = PRESETS["lenet5-modern"];
  const make = () => {
    const model = buildModel(p.graph, { registry: defaultRegistry, seed: 1 });
    return { model, optimizer: createOptimizer(p.optimizer, model, defaultRegistry) };
  };
  const a = make();
  const state = await fit(a.model, a.optimizer, data, { passes: 2, batch: 8, seed: 3 });
  // Replays both passes by hand: the same order, the same updates, one prediction per pattern beforehand.
  const b = make(), order = patternOrder(40, 3);
  const x = new Float32Array(8 * b.model.inputSize), labels = new Uint8Array(8);
  for (const h of state.history) {
    let wrong = 0;
    for (let s = 0; s < 40; s += 8) {
      gather(data.train, order.subarray(s, s + 8), x, labels);
      b.model.forward(x, 8);
      const predicted = b.model.predictions();
      for (let i = 0; i < 8; i++) if (predicted[i] !== labels[i]) wrong++;
      trainStep(b.model, b.optimizer, x, labels, 8, h.lr);
    }
    assert.equal(h.runningError, wrong / 40, `pass ${h.pass}`);
  }
  assert.deepEqual(bytes(b.model.params), bytes(a.model.params));
  assert.ok(state.history.some((h) => h.runningError! > 0 && h.runningError! < 1), "the replay saw both outcomes");
});
