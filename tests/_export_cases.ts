/**
 * What the export tests share with the WebGPU tests: one case per built-in
 * layer, presets trained briefly on real MNIST, and the closeness check.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Dataset, loadMnist } from "../data/mnist.ts";
import { preprocess } from "../data/preprocess.ts";
import { buildModel, type LayerSpec, type Model } from "../engine/model.ts";
import { defaultRegistry } from "../builtins.ts";
import { C3_TABLE, RBF_CODES } from "../presets/lenet5_data.ts";
import { PRESETS } from "../presets/presets.ts";
import { compare } from "./_helpers.ts";
import type { Feed } from "./_onnx_runtime.ts";
import { exportOnnx } from "../export/onnx.ts";

/** Asserts |a - b| <= abs + rel * max(|a|, |b|) element by element. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: { rel: number; abs: number },
  what: string,
) {
  const problem = compare(actual, expected, tol.rel, tol.abs);
  assert.equal(problem, null, `${what}: ${problem}`);
}

/** At least one case per built-in layer type; shapes and options away from the presets' too. */
export const LAYER_CASES: { spec: LayerSpec; input: number[] }[] = [
  { spec: { type: "conv2d", maps: 4, kernel: 3 }, input: [2, 7, 7] },
  { spec: { type: "conv2d", maps: 3, kernel: 3, stride: 2, padding: 1 }, input: [2, 9, 8] },
  { spec: { type: "conv2d", maps: 16, kernel: 5, table: C3_TABLE.map((r) => [...r]) }, input: [6, 14, 14] },
  { spec: { type: "subsample", size: 2 }, input: [3, 8, 8] },
  { spec: { type: "subsample", size: 3, stride: 2 }, input: [2, 9, 7] },
  { spec: { type: "avgpool", size: 2 }, input: [3, 6, 6] },
  { spec: { type: "avgpool", size: 3, stride: 2 }, input: [2, 9, 7] },
  { spec: { type: "maxpool", size: 2 }, input: [3, 6, 6] },
  { spec: { type: "maxpool", size: 3, stride: 2 }, input: [2, 9, 7] },
  { spec: { type: "squash" }, input: [3, 4, 5] },
  { spec: { type: "squash", A: 2, S: 0.5 }, input: [7] },
  { spec: { type: "tanh" }, input: [3, 4, 5] },
  { spec: { type: "relu" }, input: [3, 4, 5] },
  { spec: { type: "flatten" }, input: [3, 4, 5] },
  { spec: { type: "full", units: 7 }, input: [12] },
  { spec: { type: "rbf", codes: [...RBF_CODES] }, input: [84] },
  { spec: { type: "rbf", codes: [[0.5, -1, 2], [0, 0, 0], [-3, 1.5, 0.25]] }, input: [3] },
];

let mnist: Promise<Dataset> | undefined;
export const data = () => (mnist ??= loadMnist());

const trainedModels = new Map<string, Promise<Model>>();

/**
 * A preset trained briefly by plain SGD on the first training images (so the
 * weights are not the init's): lenet5 one pattern at a time (1,000 steps,
 * about 65% right), lenet5-modern in batches of 10 (100 steps, about 70%).
 */
export function trained(name: "lenet5" | "lenet5-modern"): Promise<Model> {
  if (!trainedModels.has(name)) {
    trainedModels.set(
      name,
      (async () => {
        const { train } = await data();
        const [batch, steps, lr] = name === "lenet5" ? [1, 1000, 0.001] : [10, 100, 0.01];
        const model = buildModel(PRESETS[name].graph, { registry: defaultRegistry, seed: 1 });
        const x = preprocess(train.images.subarray(0, batch * steps * 784), batch * steps, 28, 28);
        for (let s = 0; s < steps; s++) {
          model.zeroGrads();
          model.forward(x.subarray(s * batch * 1024, (s + 1) * batch * 1024), batch);
          model.backward(train.labels.subarray(s * batch, (s + 1) * batch));
          for (let i = 0; i < model.trainableCount; i++) model.params[i] -= lr * model.grads[i];
        }
        return model;
      })(),
    );
  }
  return trainedModels.get(name)!;
}

/** A model's three exports (preprocessed input, raw uint8 and raw float32 images) with their feeds for `n` images. */
export function exportVariants(model: Model, images: Uint8Array, x: Float32Array, n: number) {
  const variants: { file: Uint8Array; feed: Record<string, Feed>; what: string }[] = [
    { file: exportOnnx(model), feed: { input: { type: "float32", dims: [n, 1, 32, 32], data: x } }, what: "input" },
    {
      file: exportOnnx(model, { rawInput: "uint8" }),
      feed: { image: { type: "uint8", dims: [n, 28, 28], data: images } },
      what: "raw uint8",
    },
    {
      file: exportOnnx(model, { rawInput: "float32" }),
      feed: { image: { type: "float32", dims: [n, 28, 28], data: Float32Array.from(images) } },
      what: "raw float32",
    },
  ];
  return variants;
}

/** A preset trained briefly, its inputs for the first `n` test images, and the engine's answers on them. */
export async function onTestImages(name: "lenet5" | "lenet5-modern", n: number) {
  const model = await trained(name);
  const { test } = await data();
  const images = test.images.slice(0, n * 784);
  const x = preprocess(images, n, 28, 28);
  const scores = model.forward(x, n).slice();
  const engine = { scores, probs: model.probabilities(), preds: model.predictions() };
  return {
    model,
    images,
    x,
    engine,
    labels: test.labels.subarray(0, n),
    variants: exportVariants(model, images, x, n),
  };
}
