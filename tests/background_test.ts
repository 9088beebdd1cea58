/**
 * Evaluation on a second thread (FitOptions.background): the weights, the
 * recorded passes and what onPass is handed for saving are those of a run
 * that evaluates each pass on the calling thread before the next starts.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist, type Split } from "../data/mnist.ts";
import { BackgroundEvaluator, splitRanges } from "../engine/evaluator.ts";
import { evaluate } from "../engine/evaluate.ts";
import { fit, type FitState, type PassResult } from "../engine/fit.ts";
import { buildModel } from "../engine/model.ts";
import { createOptimizer } from "../engine/train.ts";
import { PRESETS } from "../presets/presets.ts";
import { bytes } from "./_helpers.ts";

const first = (s: Split, n: number): Split => {
  const images = s.images.subarray(0, n * s.rows * s.cols);
  return { ...s, count: n, images, labels: s.labels.subarray(0, n) };
};

interface Saved {
  state: FitState;
  predictions: Int32Array;
  params: Float32Array;
  curvature?: Float32Array;
}

/** The default lenet5 recipe on real digits; what each onPass was handed, copied. */
async function run(background: boolean, passes: number, maxSteps?: number) {
  const mnist = await loadMnist();
  const data = { train: mnist.train, test: first(mnist.test, 700) };
  const p = PRESETS.lenet5;
  const model = buildModel(p.graph, { registry: defaultRegistry, seed: 4 });
  const optimizer = createOptimizer({ ...p.optimizer, curvatureSamples: 60 }, model, defaultRegistry);
  const saved: Saved[] = [];
  const options = { passes, batch: 1, seed: 4, limit: 500, schedule: p.schedule, background };
  const state = await fit(model, optimizer, data, {
    ...options,
    ...(maxSteps ? { maxSteps } : {}),
    onPass(s, predictions, snapshot) {
      const c = snapshot.optimizerState.curvature;
      saved.push({
        state: structuredClone(s),
        predictions: predictions.slice(),
        params: Float32Array.from(snapshot.params),
        ...(typeof c === "object" ? { curvature: Float32Array.from(c) } : {}),
      });
    },
  });
  return { model, state, saved, data };
}

/** A pass without its wall times, which differ from run to run. */
const timeless = ({ seconds: _s, curvatureSeconds: _c, evalSeconds: _e, ...rest }: PassResult) => rest;

Deno.test("background evaluation: same weights, passes and saved snapshots as evaluating on the calling thread", async () => {
  const a = await run(false, 3), b = await run(true, 3);
  assert.deepEqual(bytes(b.model.params), bytes(a.model.params), "final weights, bit for bit");
  assert.deepEqual(b.state.history.map(timeless), a.state.history.map(timeless));
  assert.equal(b.state.steps, a.state.steps);
  assert.deepEqual(b.state.lossCurve, a.state.lossCurve);
  assert.equal(b.saved.length, 3);
  for (let i = 0; i < 3; i++) {
    const sa = a.saved[i], sb = b.saved[i];
    assert.equal(sb.state.passesDone, i + 1);
    assert.equal(sb.state.steps, sa.state.steps, `steps saved after pass ${i + 1}`);
    assert.deepEqual(sb.state.lossCurve, sa.state.lossCurve, `loss curve saved after pass ${i + 1}`);
    assert.deepEqual(bytes(sb.params), bytes(sa.params), `weights saved after pass ${i + 1}`);
    assert.deepEqual(sb.curvature && bytes(sb.curvature), sa.curvature && bytes(sa.curvature), `h_kk after ${i + 1}`);
    assert.deepEqual(sb.predictions, sa.predictions, `test predictions after pass ${i + 1}`);
  }
  // The saved weights are the pass's own (the live model had moved on), and the predictions are theirs.
  assert.notDeepEqual(bytes(b.saved[1].params), bytes(b.saved[2].params));
  const check = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
  check.params.set(b.saved[1].params);
  const e = evaluate(check, b.data.test);
  assert.deepEqual(e.predictions, b.saved[1].predictions);
  assert.equal(e.error, b.state.history[1].testError);
  assert.ok(b.state.history[0].testError < 0.5, `pass 1 learns: ${b.state.history[0].testError}`);
});

Deno.test("background evaluation: a run cut by maxSteps inside a pass records that pass as the calling thread would", async () => {
  const a = await run(false, 3, 700), b = await run(true, 3, 700);
  assert.equal(b.state.steps, 700);
  assert.deepEqual(b.state.history.map(timeless), a.state.history.map(timeless));
  assert.deepEqual(bytes(b.model.params), bytes(a.model.params));
});

Deno.test("splitRanges: two halves that cover the training then the test patterns once", () => {
  for (const [n, t] of [[60000, 10000], [300, 10000], [1, 0], [0, 1], [7, 3]]) {
    const [w, o] = splitRanges(n, t);
    assert.equal(w.trainFrom, 0);
    assert.equal(w.trainTo, o.trainFrom);
    assert.equal(o.trainTo, n);
    assert.equal(w.testFrom, 0);
    assert.equal(w.testTo, o.testFrom);
    assert.equal(o.testTo, t);
    const size = (r: typeof w) => r.trainTo - r.trainFrom + r.testTo - r.testFrom;
    assert.ok(Math.abs(size(w) - size(o)) <= 1, `${n}, ${t}: ${size(w)} vs ${size(o)}`);
  }
});

Deno.test("background evaluation: a worker that fails says why (weights whose outputs overflow)", async () => {
  const mnist = await loadMnist();
  const data = { train: first(mnist.train, 50), test: first(mnist.test, 50) };
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
  const evaluator = await BackgroundEvaluator.create(model, data);
  try {
    evaluator.start(new Float32Array(model.params.length).fill(3e38), splitRanges(50, 50)[0]);
    assert.throws(
      () => evaluator.collect(),
      /^Error: The evaluation worker failed: Cannot evaluate the model: its score for class \d of image \d+ is (Infinity|NaN); a model must answer with finite numbers/,
    );
  } finally {
    evaluator.close();
  }
});
