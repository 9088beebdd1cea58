/**
 * Exported models on onnxruntime-web's WebGPU backend give the answers of its
 * WASM backend and of the engine: each layer alone, and both presets trained
 * briefly on 1,000 real test images with preprocessed and raw input.
 *
 * They run in Deno through navigator.gpu: on these machines Mesa's llvmpipe,
 * a software adapter (`.ci/run` installs Mesa where it is missing). Where no
 * adapter is offered they are skipped, and say why.
 *
 * Tolerances, |a - b| <= abs + rel * max(|a|, |b|) (measured worst cases in
 * brackets, llvmpipe): one layer rel 1e-4, abs 1e-5 (RBF distances near 200:
 * 3e-7 relative); whole models: scores rel 1e-3, abs 1e-4, probabilities
 * abs 1e-4, the same class on every image.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { buildModel } from "../engine/model.ts";
import { exportOnnx, onnxModel } from "../export/onnx.ts";
import { webgpuSafeChannels } from "../layers/conv2d.ts";
import { PRESETS } from "../presets/presets.ts";
import { randomFill } from "./_helpers.ts";
import { assertClose, LAYER_CASES, onTestImages } from "./_export_cases.ts";
import { Rng } from "../engine/rng.ts";
import { type Feed, type Results, runWeb, runWebGpu, webGpuAdapter } from "./_onnx_runtime.ts";

const LAYER_TOL = { rel: 1e-4, abs: 1e-5 };
const SCORE_TOL = { rel: 1e-3, abs: 1e-4 };
const PROB_TOL = { rel: 0, abs: 1e-4 };

const { adapter, why } = await webGpuAdapter();
const ignore = adapter === null;
if (ignore) console.warn(`webgpu_test.ts: the WebGPU tests are skipped: ${why}`);

Deno.test("webgpu: C3's input channels are padded from 6 to 8 in the export, and only where WebGPU needs it", () => {
  assert.equal(webgpuSafeChannels(6, 16), 8);
  assert.equal(webgpuSafeChannels(9, 4), 12);
  for (const [inMaps, maps] of [[1, 6], [3, 16], [4, 16], [6, 6], [6, 2], [16, 120], [12, 8]]) {
    assert.equal(webgpuSafeChannels(inMaps, maps), inMaps, `${inMaps} -> ${maps}`);
  }
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
  const nodes = onnxModel(model).graph.nodes;
  const pads = nodes.filter((n) => n.opType === "Pad");
  assert.equal(pads.length, 1, "one Pad: before C3");
  const conv = nodes.find((n) => n.inputs[0] === pads[0].outputs[0]);
  assert.equal(conv?.opType, "Conv");
  const weight = onnxModel(model).graph.initializers.find((t) => t.name === conv!.inputs[1])!;
  assert.deepEqual(weight.dims, [16, 8, 5, 5]);
});

Deno.test({
  name: `webgpu: each layer alone gives the WASM backend's outputs (${why})`,
  ignore,
  async fn() {
    const rng = new Rng(11);
    const n = 2;
    const jobs = LAYER_CASES.map(({ spec, input }) => {
      const model = buildModel({ input, layers: [spec], loss: { type: "mse-rbf" } }, { registry: defaultRegistry });
      randomFill(model.params, rng);
      const x = randomFill(new Float32Array(n * model.inputSize), rng, -2, 2);
      const what = `${spec.type} ${JSON.stringify({ ...spec, table: undefined, codes: undefined })} on [${input}]`;
      const feeds: Record<string, Feed> = { input: { type: "float32", dims: [n, ...input], data: x } };
      return { model: exportOnnx(model, { classify: false }), feeds, what };
    });
    const gpu = await runWebGpu(jobs);
    for (const [j, job] of jobs.entries()) {
      const wasm = await runWeb(job.model, job.feeds);
      assert.deepEqual(gpu[j].scores.dims, wasm.scores.dims, job.what);
      assertClose(gpu[j].scores.data, wasm.scores.data, LAYER_TOL, `${job.what}: WebGPU against WASM`);
    }
  },
});

/** The same class on every image, scores and probabilities close. */
function assertSame(
  a: Results,
  b: { scores: ArrayLike<number>; probs: ArrayLike<number>; classes: ArrayLike<number> },
  what: string,
) {
  assert.deepEqual(a.class.data, Array.from(b.classes), `${what}: classes`);
  assertClose(a.scores.data, b.scores, SCORE_TOL, `${what}: scores`);
  assertClose(a.probabilities.data, b.probs, PROB_TOL, `${what}: probabilities`);
}

for (const name of ["lenet5", "lenet5-modern"] as const) {
  Deno.test({
    name:
      `webgpu: ${name} trained briefly, 1,000 MNIST test images, preprocessed and raw input: WASM's and the engine's answers`,
    ignore,
    async fn() {
      const { engine: e, variants } = await onTestImages(name, 1000);
      const engine = { scores: e.scores, probs: e.probs, classes: e.preds };
      const gpuAll = await runWebGpu(variants.map((v) => ({ model: v.file, feeds: v.feed })));
      for (const [j, v] of variants.entries()) {
        const gpu = gpuAll[j], wasm = await runWeb(v.file, v.feed);
        const ofWasm = { scores: wasm.scores.data, probs: wasm.probabilities.data, classes: wasm.class.data };
        assertSame(gpu, ofWasm, `${name} ${v.what}, WebGPU against WASM`);
        assertSame(gpu, engine, `${name} ${v.what}, WebGPU against the engine`);
      }
    },
  });
}
