/**
 * The page's training worker: trains a preset on MNIST with the engine's own
 * `fit`, the recipe `deno task train` uses, so that the same seed gives the
 * same weights as in Deno (on the same kernels: WebAssembly SIMD where the
 * page is cross-origin isolated). The page hands over the four idx files;
 * the worker reports progress about once a second and each pass's results,
 * C1's kernels, its predictions of the first 100 test digits and the model.
 *
 * Pause and stop go through a shared Int32Array the worker looks at with each
 * progress report: 1 pauses it (it waits on the array), 2 stops it (it sends
 * the model as it is). Without shared memory the page stops it by
 * terminating it and keeps the last pass's model.
 *
 * @module
 */
/// <reference lib="webworker" />
import { registerBuiltins } from "../builtins.ts";
import { DEFAULT_DISTORTION } from "../data/distort.ts";
import { parseIdx } from "../data/idx.ts";
import { MNIST_FILE_NAMES, splitFromIdx } from "../data/split.ts";
import { fit, type Progress } from "../engine/fit.ts";
import { buildModel } from "../engine/model.ts";
import { emptyRegistries } from "../engine/registry.ts";
import { floatsToBase64, modelToJSON } from "../engine/model_json.ts";
import { createOptimizer } from "../engine/train.ts";
import { PRESETS } from "../presets/presets.ts";
import { fitOptionsOf, formatRecipe, optimizerSpecOf, presetSettings } from "../presets/recipe.ts";
import { PAUSE, STOP, type TrainRequest } from "./_train_protocol.ts";

class Stopped extends Error {}

/** The built-ins, which the engine's worker threads import from the site's bundle of the core. */
const registry = registerBuiltins(emptyRegistries(), { module: new URL("./core.js", self.location.href) });

const post = (message: unknown, transfer: Transferable[] = []) =>
  (self as DedicatedWorkerGlobalScope).postMessage(message, transfer);

self.onmessage = async (e: MessageEvent<TrainRequest>) => {
  const r = e.data;
  try {
    const p = PRESETS[r.preset];
    if (!p) throw new Error(`no preset "${r.preset}"`);
    const file = (name: string, magic: number) => parseIdx(new Uint8Array(r.files[name]), name, magic);
    const N = MNIST_FILE_NAMES;
    const data = {
      train: splitFromIdx(file(N.trainImages, 2051), file(N.trainLabels, 2049), N.trainImages, N.trainLabels),
      test: splitFromIdx(file(N.testImages, 2051), file(N.testLabels, 2049), N.testImages, N.testLabels),
    };
    const settings = presetSettings(p, registry, r.seed, {
      passes: r.passes,
      ...(r.limit ? { limit: r.limit } : {}),
      ...(r.distort ? { distort: DEFAULT_DISTORTION } : {}),
    });
    const model = buildModel(settings.graph, { registry, seed: settings.seed });
    const optimizer = createOptimizer(optimizerSpecOf(settings, registry), model, registry);
    const control = r.control ? new Int32Array(r.control) : null;
    // Where C1's weights sit in the flat parameters (the snapshot's layout).
    const c1At = (model.layers[0].params[0].byteOffset - model.params.byteOffset) / model.params.BYTES_PER_ELEMENT;
    const recipe = formatRecipe(settings, optimizer);
    post({ kind: "start", kernels: model.kernels, parameters: model.trainableCount, recipe });
    const onProgress = (pr: Progress) => {
      post({ kind: "progress", ...pr });
      if (!control) return;
      if (Atomics.load(control, 0) === PAUSE) {
        post({ kind: "paused" });
        while (Atomics.load(control, 0) === PAUSE) Atomics.wait(control, 0, PAUSE);
        post({ kind: "resumed" });
      }
      if (Atomics.load(control, 0) === STOP) throw new Stopped();
    };
    const state = await fit(model, optimizer, data, {
      ...fitOptionsOf(settings, registry),
      // Each pass's evaluation on a second worker while the next pass trains (it needs shared memory), as in Deno.
      background: control !== null,
      workerUrls: {
        evaluator: new URL("./eval_worker.js", self.location.href),
        parallel: new URL("./parallel_worker.js", self.location.href),
      },
      onProgress,
      onPass(s, testPredictions, snapshot) {
        // The weights of the pass just evaluated: with the evaluation in the background the model has moved on.
        const h = s.history[s.history.length - 1];
        const passModel = { ...modelToJSON(model), params: floatsToBase64(snapshot.params) };
        const c1 = Float32Array.from(snapshot.params.subarray(c1At, c1At + 6 * 25));
        const predictions = Int32Array.from(testPredictions.subarray(0, 100));
        post({ kind: "pass", result: h, lossCurve: s.lossCurve, predictions, kernels: c1, model: passModel });
      },
    }).catch((err) => {
      if (err instanceof Stopped) return null;
      throw err;
    });
    post({ kind: state ? "done" : "stopped", model: modelToJSON(model) });
  } catch (err) {
    post({ kind: "error", message: err instanceof Error ? err.message : String(err) });
  }
};
