/**
 * The engine chains layers correctly: whole-network gradients against finite
 * differences (float64 engine), float32 against float64, and the diagonal
 * second derivatives of a tiny network against an independent computation
 * from explicit per-layer Jacobians (the paper's recursion, done with
 * matrices).
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { assertAllClose, jacobian, numericGradient, randomFill, secondDiagonal } from "./_helpers.ts";

/** A tiny LeNet: every layer kind of the faithful preset, with a connection table. */
const TINY: GraphSpec = {
  name: "tiny",
  input: [2, 8, 8],
  layers: [
    { type: "conv2d", name: "C1", maps: 3, kernel: 3 },
    { type: "squash", name: "C1.f" },
    { type: "subsample", name: "S2", size: 2 },
    { type: "squash", name: "S2.f" },
    { type: "conv2d", name: "C3", maps: 4, kernel: 2, table: [[1, 0, 1, 1], [1, 1, 0, 1], [0, 1, 1, 1]] },
    { type: "squash", name: "C3.f" },
    { type: "flatten", name: "flat" },
    { type: "full", name: "F6", units: 6 },
    { type: "squash", name: "F6.f" },
    { type: "rbf", name: "OUT", codes: ["101010", "110011", "000111"] },
  ],
  loss: { type: "map", j: 0.5 },
};

const MODERN: GraphSpec = {
  input: [1, 8, 8],
  init: "he-uniform",
  layers: [
    { type: "conv2d", maps: 3, kernel: 3 },
    { type: "relu" },
    { type: "maxpool", size: 2 },
    { type: "conv2d", maps: 4, kernel: 2, padding: 1 },
    { type: "tanh" },
    { type: "avgpool", size: 2 },
    { type: "flatten" },
    { type: "full", units: 3 },
  ],
  loss: { type: "softmax-cross-entropy" },
};

for (const [name, graph] of [["tiny lenet", TINY], ["modern", MODERN]] as const) {
  Deno.test(`${name} network: engine gradients (float64) match finite differences of the loss`, () => {
    const model = buildModel(graph, { registry: defaultRegistry, dtype: "float64", seed: 5 });
    const n = 3;
    const x = randomFill(new Float64Array(n * model.inputSize), new Rng(9), -0.5, 1.2);
    const labels = [0, 2, 1];
    model.zeroGrads();
    model.forward(x, n);
    model.backward(labels);
    const trainable = model.params.subarray(0, model.trainableCount);
    const E = () => {
      model.forward(x, n);
      return model.lossValue(labels);
    };
    assertAllClose(model.grads, numericGradient(trainable, E), "dE/dparams", 1e-5, 1e-8);
  });

  Deno.test(`${name} network: float32 engine agrees with float64 engine`, () => {
    const m32 = buildModel(graph, { registry: defaultRegistry, seed: 5 });
    const m64 = buildModel(graph, { registry: defaultRegistry, dtype: "float64", seed: 5 });
    assertAllClose(m32.params, m64.params, "init", 1e-6, 1e-7);
    const x = randomFill(new Float64Array(2 * m32.inputSize), new Rng(1), -0.5, 1.2);
    const x32 = Float32Array.from(x);
    const s32 = m32.forward(x32, 2), s64 = m64.forward(x32, 2);
    assertAllClose(s32, s64, "scores", 1e-4, 1e-5);
    for (const m of [m32, m64]) (m.zeroGrads(), m.backward([1, 0]));
    assertAllClose(m32.grads, m64.grads, "grads", 1e-3, 1e-5);
  });
}

Deno.test("tiny network: backward2 matches the diagonal recursion computed from explicit Jacobians", () => {
  const model = buildModel(TINY, { registry: defaultRegistry, seed: 11 });
  const ref = buildModel(TINY, { registry: defaultRegistry, dtype: "float64", seed: 11 });
  const n = 2;
  const x = randomFill(new Float32Array(n * model.inputSize), new Rng(4), -0.1, 1.175);
  const labels = [2, 0];

  // Engine (float32): forward, backward, backward2 with the batch mean.
  model.zeroHess();
  model.forward(x, n);
  model.backward(labels);
  model.backward2(labels);

  // Reference (float64), from forwards only.
  ref.forward(x, n);
  const acts = [Float64Array.from(x), ...ref.layers.map((_, i) => Float64Array.from(ref.activation(i)))];
  const L = ref.layers.length;
  const loss = ref.loss.plugin;
  const top = acts[L];
  const lossOf = () => loss.forward(ref.loss.config, top, labels, n, ref.classes) / n;
  let g = numericGradient(top, lossOf); // dE/dy
  let d2 = secondDiagonal(top, () => new Float64Array([lossOf()]))[0]; // diag d2E/dy2
  const expected = new Map<string, Float64Array>(); // `${layer}.${param}`
  for (let i = L - 1; i >= 0; i--) {
    const l = ref.layers[i];
    const xin = acts[i];
    const run = () => {
      const y = new Float64Array(n * l.outSize);
      l.plugin.forward(l, xin, y, n);
      return y;
    };
    const diag = (v: Float64Array | Float32Array) => {
      const J = jacobian(v, run);
      const out = new Float64Array(v.length);
      for (let a = 0; a < J.length; a++) for (let b = 0; b < v.length; b++) out[b] += J[a][b] * J[a][b] * d2[a];
      if (l.plugin.exactCurvature) {
        const H = secondDiagonal(v, run);
        for (let a = 0; a < H.length; a++) for (let b = 0; b < v.length; b++) out[b] += g[a] * H[a][b];
      }
      return out;
    };
    // S2's coefficient enters each unit through four connections: appendix C's per-connection rule, not the square
    // of this Jacobian (tests/appendix_c_test.ts checks it).
    l.specs.forEach((s, k) => {
      if ((s.trainable ?? true) && l.plugin.type !== "subsample") {
        expected.set(`${l.name}.${s.name}`, diag(l.params[k]));
      }
    });
    const Jx = jacobian(xin, run);
    const gin = new Float64Array(xin.length);
    for (let a = 0; a < Jx.length; a++) for (let b = 0; b < xin.length; b++) gin[b] += Jx[a][b] * g[a];
    d2 = diag(xin);
    g = gin;
  }
  let checked = 0;
  model.layers.forEach((l) => {
    l.hess.forEach((h, k) => {
      if (h.length === 0) return;
      const key = `${l.name}.${l.specs[k].name}`;
      if (l.plugin.type !== "subsample") assertAllClose(h, expected.get(key)!, key, 2e-3, 1e-6);
      checked += h.length;
    });
  });
  assert.equal(checked, model.trainableCount);
  assert.ok(model.hess.some((v) => v > 0));
});
