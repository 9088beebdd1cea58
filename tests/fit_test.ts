/**
 * `fit` on data that is not an image: a graph whose input is [4], trained
 * from a tensor source with the optimizers' hooks, and the step range SDLM
 * records against its step sizes written out.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { tensorSource } from "../data/source.ts";
import { evaluate } from "../engine/evaluate.ts";
import { fit } from "../engine/fit.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, type OptimizerSpec } from "../engine/train.ts";
import { sdlmStepSizes } from "../optim/sdlm.ts";
import { bytes } from "./_helpers.ts";

const GRAPH: GraphSpec = {
  input: [4],
  init: "glorot-uniform",
  layers: [{ type: "full", units: 8 }, { type: "tanh" }, { type: "full", units: 2 }],
  loss: { type: "softmax-cross-entropy" },
};

/** `count` points in [-1, 1]^4, labelled by whether x0 and x1 have the same sign (not linearly separable). */
function points(count: number, seed: number) {
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: count * 4 }, () => rng.uniform(-1, 1));
  const labels = Uint8Array.from({ length: count }, (_, i) => (x[4 * i] > 0) === (x[4 * i + 1] > 0) ? 1 : 0);
  return tensorSource(x, labels, [4]);
}

async function train(spec: OptimizerSpec, passes: number) {
  const data = { train: points(200, 1), test: points(100, 2) };
  const model = buildModel(GRAPH, { registry: defaultRegistry, seed: 3 });
  const before = evaluate(model, data.test).error;
  const optimizer = createOptimizer(spec, model, defaultRegistry);
  const state = await fit(model, optimizer, data, { passes, batch: 4, seed: 5 });
  return { model, optimizer, state, before, data };
}

Deno.test("fit: a graph with input [4] trains from a tensor source, the same seed giving the same weights", async () => {
  const a = await train({ type: "sgd", lr: 0.2 }, 40), b = await train({ type: "sgd", lr: 0.2 }, 40);
  assert.equal(a.state.history.length, 40);
  const last = a.state.history[39];
  assert.ok(a.before > 0.3, `untrained test error ${a.before}`);
  assert.ok(last.testError < 0.1, `test error after 40 passes ${last.testError}`);
  assert.equal(evaluate(a.model, a.data.test).error, last.testError, "evaluate agrees with the pass record");
  assert.deepEqual(bytes(b.model.params), bytes(a.model.params));
});

Deno.test("fit: SDLM on a tensor source records its step range, eta / (mu + h_kk) over the h_kk of the pass", async () => {
  const mu = 0.05, lr = 0.01;
  const { model, state } = await train({ type: "sdlm", lr, mu, curvatureSamples: 50 }, 3);
  for (const h of state.history) assert.ok(h.stepRange && h.curvatureSeconds !== undefined, `pass ${h.pass}`);
  // No running update: after the last pass, hess holds the h_kk that pass estimated and stepped with.
  const steps = sdlmStepSizes({ mu }, lr, model.hess);
  const range = state.history[2].stepRange!;
  assert.equal(range[0], steps.reduce((a, s) => Math.min(a, s), Infinity));
  assert.equal(range[1], steps.reduce((a, s) => Math.max(a, s), 0));
  assert.ok(range[0] < range[1] && range[1] <= lr / mu);
});

Deno.test("fit: a tensor source that is not the model's input is refused, naming its role and both shapes", async () => {
  const model = buildModel(GRAPH, { registry: defaultRegistry });
  const optimizer = createOptimizer({ type: "sgd" }, model, defaultRegistry);
  const wrong = tensorSource(new Float32Array(30), new Uint8Array(10), [3], "points.bin");
  await assert.rejects(
    fit(model, optimizer, { train: wrong, test: points(10, 1) }, { passes: 1, batch: 1, seed: 0 }),
    /Cannot use the training patterns "points\.bin": 10 patterns of 3 in 30 floats, but the model's input is 4/,
  );
  const badLabel = tensorSource(new Float32Array(8), new Uint8Array([0, 2]), [4]);
  await assert.rejects(
    fit(model, optimizer, { train: points(10, 1), test: badLabel }, { passes: 1, batch: 1, seed: 0 }),
    /Cannot use the test patterns: pattern 1 is labelled 2, but the model has 2 classes \(0\.\.1\)/,
  );
});
