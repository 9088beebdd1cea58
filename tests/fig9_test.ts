/**
 * The networks of the paper's comparison (presets/fig9.ts) against the
 * paper's counts (Figs. 9, 11, 12; LeCun et al. 1990 for LeNet-1), their
 * connection tables, the MSE criterion on place codes written out, and
 * their exports against onnxruntime-web on real MNIST test digits.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { prepareSplit, type PrepareStep } from "../data/prepare.ts";
import { preprocess } from "../data/preprocess.ts";
import type { Split } from "../data/split.ts";
import { checkSplitFits } from "../data/source.ts";
import { buildModel, type GraphSpec, type Model } from "../engine/model.ts";
import { modelFromJSON, modelToJSON } from "../engine/model_json.ts";
import { Rng } from "../engine/rng.ts";
import { exportOnnx } from "../export/onnx.ts";
import type { Conv2dConfig } from "../layers/conv2d.ts";
import { FIG9_NETWORKS, LENET1_C3_TABLE, LENET4_S2_TABLE, PLACE_CODES } from "../presets/fig9.ts";
import { PRESETS } from "../presets/presets.ts";
import { assertClose, data } from "./_export_cases.ts";
import { randomFill } from "./_helpers.ts";
import { runWeb } from "./_onnx_runtime.ts";

const build = (graph: GraphSpec, seed = 1) => buildModel(graph, { registry: defaultRegistry, seed });
const network = (name: string) => FIG9_NETWORKS.find((n) => n.name === name)!;
/** Connections of the trained layers: the fixed place codes (TARGETS) only read the outputs out. */
const multiplyAdds = (m: Model) => m.layers.filter((l) => l.name !== "TARGETS").reduce((a, l) => a + l.connections, 0);
const within = (value: number, paper: number, share: number) => Math.abs(value - paper) <= share * paper;

Deno.test("fig9: the linear classifier and the multilayer networks have the parameters their sizes give", () => {
  assert.equal(build(network("linear").graph).counts().trainable, 7_850);
  assert.equal(build(network("linear-deslant").graph).counts().trainable, 4_010);
  for (
    const [name, sizes] of [
      ["mlp-300", [784, 300, 10]],
      ["mlp-1000", [784, 1000, 10]],
      ["mlp-300-100", [784, 300, 100, 10]],
      ["mlp-500-150", [784, 500, 150, 10]],
      ["mlp-deslant-300", [400, 300, 10]],
    ] as const
  ) {
    const m = build(network(name).graph);
    const expected = sizes.slice(1).reduce((a, units, i) => a + units * (sizes[i] + 1), 0);
    assert.equal(m.counts().trainable, expected, `${name} parameters`);
    const side = Math.sqrt(sizes[0]);
    assert.ok(network(name).row.endsWith(`${side}x${side}-${sizes.slice(1, -1).join("-")}-10`), network(name).row);
    const paper = network(name).paperMultiplyAdds;
    if (paper !== undefined) assert.ok(within(multiplyAdds(m), paper, 0.01), `${name}: ${multiplyAdds(m)} vs ${paper}`);
  }
});

Deno.test("fig9: LeNet-1 has LeCun et al. 1990's 2,578 parameters and 98,442 connections, layer by layer", () => {
  const m = build(network("lenet1").graph);
  assert.equal(m.counts().trainable, 2_578);
  assert.equal(multiplyAdds(m), 98_442);
  const expected: [string, number, number[]][] = [
    ["C1", 104, [4, 24, 24]],
    ["S2", 8, [4, 12, 12]],
    ["C3", 512, [12, 8, 8]],
    ["S4", 24, [12, 4, 4]],
    ["OUTPUT", 1_930, [10]],
  ];
  for (const [name, params, shape] of expected) {
    const l = m.layers.find((l) => l.name === name)!;
    assert.equal(l.trainable, params, `${name} parameters`);
    assert.deepEqual(l.outShape, shape, `${name} shape`);
  }
  // 20 connections from the 4 S2 maps, each C3 map on one or two of them.
  const perMap = LENET1_C3_TABLE[0].map((_, o) => LENET1_C3_TABLE.reduce((a, r) => a + r[o], 0));
  assert.equal(perMap.reduce((a, b) => a + b, 0), 20);
  assert.ok(perMap.every((k) => k === 1 || k === 2), `${perMap}`);
  const n = network("lenet1");
  assert.ok(within(2_578, n.paperParameters!, 0.1) && within(98_442, n.paperMultiplyAdds!, 0.1));
});

Deno.test("fig9: LeNet-4 is within 10% of the paper's 17,000 parameters and 260,000 connections, maps as it lists", () => {
  const m = build(network("lenet4").graph);
  const n = network("lenet4");
  assert.ok(within(m.counts().trainable, n.paperParameters!, 0.1), `${m.counts().trainable} parameters`);
  assert.ok(within(multiplyAdds(m), n.paperMultiplyAdds!, 0.1), `${multiplyAdds(m)} connections`);
  const maps = ["C1", "S2", "C3", "S4", "F5", "OUTPUT"].map((name) =>
    m.layers.find((l) => l.name === name)!.outShape[0]
  );
  assert.deepEqual(maps, [4, 8, 16, 16, 120, 10]);
  // "8 subsampling maps connected in pairs to each first-layer feature map".
  assert.deepEqual(LENET4_S2_TABLE.map((r) => r.reduce((a, b) => a + b, 0)), [2, 2, 2, 2]);
  assert.ok(LENET4_S2_TABLE[0].every((_, o) => LENET4_S2_TABLE.reduce((a, r) => a + r[o], 0) === 1));
  const s2 = m.layers.find((l) => l.name === "S2")!;
  assert.deepEqual([(s2.config as Conv2dConfig).kernel, (s2.config as Conv2dConfig).stride], [2, 2]);
});

Deno.test("fig9: every network's output is the MSE criterion against the +-1 place codes, read as the largest output", () => {
  const rng = new Rng(5);
  for (const n of FIG9_NETWORKS) {
    const m = build(n.graph, 2);
    // The same graph without the place codes, with the same parameters: its outputs are the x_j.
    const bare = build({ ...n.graph, layers: n.graph.layers.slice(0, -1), loss: { type: "softmax-cross-entropy" } }, 2);
    bare.params.set(m.params.subarray(0, bare.params.length));
    const batch = 3, x = randomFill(new Float32Array(batch * m.inputSize), rng, -0.1, 1.175);
    const distances = m.forward(x, batch).slice(), outputs = bare.forward(x, batch).slice();
    for (let b = 0; b < batch; b++) {
      const out = Array.from(outputs.subarray(b * 10, (b + 1) * 10));
      for (let i = 0; i < 10; i++) {
        const expected = out.reduce((a, v, j) => a + (v - PLACE_CODES[i][j]) ** 2, 0);
        assert.ok(Math.abs(distances[b * 10 + i] - expected) <= 1e-4 * (1 + expected), `${n.name}: distance ${i}`);
      }
      const largest = out.indexOf(Math.max(...out));
      assert.equal(m.predictions()[b], largest, `${n.name}: the class is the largest output`);
    }
    // The loss is the correct class's distance, E = sum_j (x_j - t_j)^2.
    const labels = new Uint8Array([3, 0, 9]);
    m.forward(x, batch);
    const loss = m.loss.plugin.forward(m.loss.config, distances, labels, batch, 10);
    assert.ok(Math.abs(loss - (distances[3] + distances[10] + distances[29])) < 1e-3, `${n.name}: E = y_D`);
  }
});

Deno.test("fig9: a 28x28-input network reads the image unpadded; a mismatch names the graph's pad", () => {
  const linear = build(network("linear").graph);
  assert.equal(linear.inputPad, 0);
  assert.equal(build(network("lenet4").graph).inputPad, 2);
  const lenet1 = build(network("lenet1").graph);
  assert.deepEqual([lenet1.inputPad, lenet1.prepare], [6, [{ type: "crop", size: 20 }, {
    type: "downsample",
    size: 16,
  }]]);
  const split = {
    images: new Uint8Array(28 * 28).fill(255),
    labels: new Uint8Array([1]),
    count: 1,
    rows: 28,
    cols: 28,
  };
  checkSplitFits(linear, split, "test images");
  const padded = build({ ...network("linear").graph, pad: undefined });
  assert.throws(() => checkSplitFits(padded, split, "test images"), /a graph "pad" of 0 would fit them/);
  assert.throws(() => build({ ...network("linear").graph, pad: -1 }), /field "pad" must be an integer in 0\.\./);
  const saved = modelFromJSON(JSON.parse(JSON.stringify(modelToJSON(linear))), defaultRegistry);
  assert.equal(saved.inputPad, 0);
});

Deno.test("fig9: each preset trains with the default recipe and says what it chose where the paper is silent", () => {
  for (const n of FIG9_NETWORKS) {
    const p = PRESETS[n.name];
    assert.equal(p.graph, n.graph);
    assert.deepEqual([p.optimizer.type, p.batch, p.epochs], ["sdlm", 1, 20]);
    assert.deepEqual(p.optimizer, PRESETS.lenet5.optimizer);
    assert.ok(p.choices && p.choices.length >= 2, `${n.name} lists its choices`);
    for (const c of p.choices) assert.ok(c.what && c.chosen && c.source && c.affects, `${n.name}: ${c.what}`);
  }
});

/** The first `count` images of a split as a network reads them: prepared by its graph, then preprocessed. */
function inputs(model: Model, split: Split, count: number): Float32Array {
  const few = { ...split, images: split.images.subarray(0, count * 784), labels: split.labels, count };
  const ready = prepareSplit(few, model.prepare);
  return preprocess(ready.images, count, ready.rows, ready.cols, { pad: model.inputPad });
}

Deno.test("fig9: each network, trained briefly, exports to ONNX and onnxruntime-web gives the engine's answers on 200 MNIST test digits, preparation included", async () => {
  const { train, test } = await data();
  const n = 200;
  for (const net of FIG9_NETWORKS) {
    const model = build(net.graph, 1);
    const steps = 300, lr = 0.002;
    const x = inputs(model, train, steps);
    for (let s = 0; s < steps; s++) {
      model.zeroGrads();
      model.forward(x.subarray(s * model.inputSize, (s + 1) * model.inputSize), 1);
      model.backward(train.labels.subarray(s, s + 1));
      for (let i = 0; i < model.trainableCount; i++) model.params[i] -= lr * model.grads[i];
    }
    const scores = model.forward(inputs(model, test, n), n).slice();
    const preds = model.predictions();
    const right = preds.filter((p, i) => p === test.labels[i]).length;
    assert.ok(right > 0.3 * n, `${net.name} learned something (chance: 10%): ${right} of ${n}`);
    const out = await runWeb(exportOnnx(model, { rawInput: "uint8" }), {
      image: { type: "uint8", dims: [n, 28, 28], data: test.images.slice(0, n * 784) },
    });
    // Deslanting in float32 (ONNX) and float64 (engine) rounds a few pixels to neighbouring grey levels (see below).
    const deslanted = model.prepare.some((p) => p.type === "deslant");
    const same = out.class.data.filter((c, i) => c === preds[i]).length;
    assert.ok(same >= (deslanted ? n - 2 : n), `${net.name}: ${n - same} classes differ`);
    const tol = deslanted ? { rel: 1e-2, abs: 1e-2 } : { rel: 1e-4, abs: 1e-4 };
    assertClose(out.scores.data, scores, tol, `${net.name}: scores`);
  }
});

Deno.test("fig9: the exported preparation gives the engine's prepared images, grey level for grey level", async () => {
  const { test } = await data();
  const n = 300, images = test.images.slice(0, n * 784);
  const cases: PrepareStep[][] = [
    [{ type: "deslant", size: 20 }],
    [{ type: "downsample", size: 16 }],
    [{ type: "crop", size: 20 }],
    [{ type: "crop", size: 20 }, { type: "downsample", size: 16 }],
  ];
  for (const steps of cases) {
    const side = steps.at(-1)!.size, what = steps.map((s) => s.type).join(" + ");
    // A network that only reads out its input: the export's scores are the prepared, preprocessed image.
    const model = build({
      input: [1, side, side],
      pad: 0,
      prepare: steps,
      layers: [{ type: "flatten" }],
      loss: { type: "mse-rbf" },
    });
    const out = await runWeb(
      exportOnnx(model, { rawInput: "uint8", classify: false, preprocess: { background: 0, ink: 255 } }),
      {
        image: { type: "uint8", dims: [n, 28, 28], data: images },
      },
    );
    const expected = prepareSplit({ images, labels: new Uint8Array(n), count: n, rows: 28, cols: 28 }, steps).images;
    let same = 0;
    for (let i = 0; i < expected.length; i++) {
      assert.ok(
        Math.abs(out.scores.data[i] - expected[i]) <= 1,
        `${what}: value ${i}: ${out.scores.data[i]} vs ${expected[i]}`,
      );
      if (Math.abs(out.scores.data[i] - expected[i]) < 1e-3) same++;
    }
    // Float32 moments put a few sample points on the other side of a rounding boundary: deslanting 300 digits, about
    // 0.1% of the values; a crop is a copy, and the down-sampling's area averages are never within 0.01 of a half.
    const most = steps[0].type === "deslant" ? Math.ceil(0.005 * expected.length) : 0;
    assert.ok(
      same >= expected.length - most,
      `${what}: ${expected.length - same} values one grey level apart`,
    );
  }
});

Deno.test("fig9: a network whose graph prepares its images exports only with raw input, naming the steps", () => {
  const prepared = FIG9_NETWORKS.filter((n) => n.graph.prepare);
  assert.deepEqual(prepared.map((n) => n.name), ["linear-deslant", "mlp-deslant-300", "lenet1"]);
  for (const net of prepared) {
    assert.throws(
      () => exportOnnx(build(net.graph)),
      /prepares each image before the network \((deslant to 20x20|crop to 20x20, then downsample to 16x16); data\/prepare\.ts\), which only an export with raw input/,
    );
  }
});
