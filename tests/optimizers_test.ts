/** Each optimizer lowers the loss on a tiny synthetic problem in a few steps; SDLM keeps h_kk across passes as told. */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { gather } from "../data/source.ts";
import { fit } from "../engine/fit.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { PRESETS } from "../presets/presets.ts";
import { createOptimizer, estimateCurvature, type OptimizerSpec, trainStep } from "../engine/train.ts";
import { sdlmStepSizes } from "../optim/sdlm.ts";
import { assertAllClose, bytes, datasetLoss, syntheticImages, syntheticSplit } from "./_helpers.ts";

const RBF_NET: GraphSpec = {
  input: [1, 8, 8],
  layers: [
    { type: "conv2d", maps: 4, kernel: 3 },
    { type: "squash" },
    { type: "subsample", size: 2 },
    { type: "squash" },
    { type: "flatten" },
    { type: "full", units: 8 },
    { type: "squash" },
    { type: "rbf", codes: ["11110000", "00001111", "10101010", "01010101"] },
  ],
  loss: { type: "map", j: 0.1 },
};

const CE_NET: GraphSpec = {
  input: [1, 8, 8],
  init: "he-uniform",
  layers: [
    { type: "conv2d", maps: 4, kernel: 3 },
    { type: "relu" },
    { type: "maxpool", size: 2 },
    { type: "flatten" },
    { type: "full", units: 4 },
  ],
  loss: { type: "softmax-cross-entropy" },
};

const CASES: [string, GraphSpec, OptimizerSpec, number][] = [
  ["sgd", CE_NET, { type: "sgd", lr: 0.05 }, 1],
  ["sgd + momentum", CE_NET, { type: "sgd", lr: 0.02, momentum: 0.9 }, 4],
  ["adam", CE_NET, { type: "adam", lr: 0.01 }, 4],
  ["sgd on the MAP loss", RBF_NET, { type: "sgd", lr: 0.01 }, 1],
  ["sdlm on the MAP loss", RBF_NET, { type: "sdlm", lr: 0.0005, mu: 0.02 }, 1],
  ["sdlm on the MSE criterion", { ...RBF_NET, loss: { type: "mse-rbf" } }, { type: "sdlm", lr: 0.0005 }, 1],
];

for (const [name, graph, spec, batch] of CASES) {
  Deno.test(`optimizer ${name}: a few steps lower the loss on a synthetic problem`, () => {
    const { x, labels } = syntheticImages(64, 4, 8, 1);
    const model = buildModel(graph, { registry: defaultRegistry, seed: 2 });
    const opt = createOptimizer(spec, model, defaultRegistry);
    const before = datasetLoss(model, x, labels);
    if (opt.plugin.needsCurvature) estimateCurvature(model, x, labels, 32);
    for (let step = 0; step < 48; step++) {
      const s = (step * batch) % 64;
      trainStep(model, opt, x.subarray(s * 64, (s + batch) * 64), labels.subarray(s, s + batch), batch);
    }
    const after = datasetLoss(model, x, labels);
    assert.ok(after < 0.8 * before, `loss ${before.toFixed(4)} -> ${after.toFixed(4)}`);
  });
}

Deno.test("sdlm: the step of parameter k is eta / (mu + h_kk), estimated from second derivatives", () => {
  const { x, labels } = syntheticImages(16, 4, 8, 3);
  const model = buildModel(RBF_NET, { registry: defaultRegistry, seed: 2 });
  const opt = createOptimizer({ type: "sdlm", lr: 0.001, mu: 0.02 }, model, defaultRegistry);
  estimateCurvature(model, x, labels, 16);
  assert.ok(model.grads.every((g) => g === 0), "curvature estimation leaves gradients at zero");
  const h = Float64Array.from(model.hess);
  assert.ok(h.every((v) => v >= 0) && h.some((v) => v > 0));
  model.zeroGrads();
  model.forward(x.subarray(0, 64), 1);
  model.backward(labels.subarray(0, 1));
  const g = Float64Array.from(model.grads);
  const w0 = Float64Array.from(model.params.subarray(0, model.trainableCount));
  opt.step(model);
  const steps = sdlmStepSizes({ mu: 0.02 }, 0.001, h);
  for (let k = 0; k < w0.length; k++) {
    const expected = w0[k] - (0.001 / (0.02 + h[k])) * g[k];
    assert.ok(Math.abs(model.params[k] - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `param ${k}`);
    assert.ok(Math.abs(steps[k] - 0.001 / (0.02 + h[k])) <= 1e-6 * steps[k]);
  }
});

Deno.test("sdlm: stepping without a curvature estimate is an error naming the fix", () => {
  const model = buildModel(RBF_NET, { registry: defaultRegistry });
  const opt = createOptimizer({ type: "sdlm" }, model, defaultRegistry);
  assert.equal(opt.lr, 0.0005);
  // hess is all zero: steps are eta / mu, which is allowed; null hess is not.
  assert.throws(
    () =>
      opt.plugin.step(opt.config, opt.state, { params: model.params, grads: model.grads, hess: null, lr: 1, work: {} }),
    /Cannot take an sdlm step: no curvature estimate/,
  );
});

Deno.test("sdlm fit: curvatureMemory m keeps m of the last pass's h_kk (0: fresh each pass; 1: pass 1's throughout)", async () => {
  const data = { train: syntheticSplit(40, 1), test: syntheticSplit(10, 2) };
  const run = async (curvatureMemory: number) => {
    const model = buildModel({ ...PRESETS.lenet5.graph, init: "paper-sqrt" }, { registry: defaultRegistry, seed: 1 });
    const spec = { ...PRESETS.lenet5.optimizer, curvatureSamples: 20, curvatureMemory };
    const optimizer = createOptimizer(spec, model, defaultRegistry);
    const used: Float32Array[] = [];
    // Training steps leave hess alone, so after a pass it still holds the h_kk that pass used.
    const onPass = () => void used.push(Float32Array.from(model.hess));
    await fit(model, optimizer, data, { passes: 3, batch: 1, seed: 3, onPass });
    return used;
  };
  const fresh = await run(0), half = await run(0.5), kept = await run(1);
  assert.notDeepEqual(bytes(fresh[1]), bytes(fresh[0]), "the fresh estimate changes from pass to pass");
  // Pass 1 is the same for all three, so pass 2's fresh estimate is too.
  assert.deepEqual(bytes(half[0]), bytes(fresh[0]));
  assert.deepEqual(bytes(kept[0]), bytes(fresh[0]));
  assertAllClose(half[1], fresh[0].map((h, i) => 0.5 * h + 0.5 * fresh[1][i]), "pass 2 with m = 0.5", 1e-6, 1e-12);
  assert.deepEqual(bytes(kept[1]), bytes(fresh[0]), "m = 1: pass 2 uses pass 1's h_kk");
  assert.deepEqual(bytes(kept[2]), bytes(fresh[0]), "m = 1: pass 3 uses pass 1's h_kk");
});

Deno.test("sdlm fit: curvatureRate g updates h_kk during the pass, h = (1 - g) h + g h_pattern", async () => {
  const data = { train: syntheticSplit(1, 5), test: syntheticSplit(4, 6) };
  const x = new Float32Array(1024), labels = new Uint8Array(1);
  gather(data.train, [0], x, labels);
  const graph = PRESETS.lenet5.graph;
  const trained = buildModel(graph, { registry: defaultRegistry, seed: 2 });
  const start = Float32Array.from(trained.params);
  const spec = { ...PRESETS.lenet5.optimizer, curvatureMemory: 0, curvatureRate: 0.3, curvatureEvery: 1 };
  const optimizer = createOptimizer(spec, trained, defaultRegistry);
  // One pattern, so the pass is one update followed by one running update.
  await fit(trained, optimizer, data, { passes: 1, batch: 1, seed: 1 });
  const check = buildModel(graph, { registry: defaultRegistry });
  check.params.set(start);
  const before = Float64Array.from(estimateCurvature(check, x, labels, 1));
  check.params.set(trained.params);
  const after = estimateCurvature(check, x, labels, 1);
  assert.notDeepEqual(bytes(trained.params), bytes(start), "the pattern was trained on");
  const expected = before.map((h, k) => 0.7 * h + 0.3 * after[k]);
  assertAllClose(trained.hess, expected, "h_kk after the pass", 1e-5, 1e-12);
  assert.ok(expected.some((h, k) => Math.abs(h - before[k]) > 1e-3 * Math.abs(h)), "the running update moved h_kk");
});

Deno.test("estimateCurvature with another loss: the curvature of a model built with that loss, the model's own loss untouched", () => {
  // Two-unit codes: the distances are a few units, so every class (and the rubbish class) has a fair share of the
  // probability and the MAP loss's curvature is not the MSE criterion's. (In LeNet-5 the 84-unit distances start near
  // 84, the rubbish class takes all the probability and the two agree until the network fits.)
  const graph = (loss: GraphSpec["loss"]): GraphSpec => ({
    input: [3],
    layers: [{ type: "full", units: 2 }, { type: "squash" }, { type: "rbf", codes: ["10", "01"] }],
    loss,
  });
  const map = buildModel(graph({ type: "map", j: 0.1 }), { registry: defaultRegistry, seed: 4 });
  const ref = buildModel(graph({ type: "mse-rbf" }), { registry: defaultRegistry, seed: 4 });
  const x = new Float32Array(3 * 20).map((_, i) => Math.sin(i * 0.7));
  const labels = Uint8Array.from({ length: 20 }, (_, i) => i % 2);
  const own = Float32Array.from(estimateCurvature(map, x, labels, 20));
  const other = Float32Array.from(estimateCurvature(map, x, labels, 20, { loss: ref.loss }));
  assert.deepEqual(other, Float32Array.from(estimateCurvature(ref, x, labels, 20)));
  assert.notDeepEqual(other, own, "the MAP loss's curvature differs from the MSE criterion's");
  assert.equal(map.loss.plugin.type, "map");
  assert.deepEqual(Float32Array.from(estimateCurvature(map, x, labels, 20)), own);
});
