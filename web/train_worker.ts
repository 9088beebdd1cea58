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
import { defaultRegistry } from "../builtins.ts";
import { DEFAULT_DISTORTION } from "../data/distort.ts";
import { parseIdx } from "../data/idx.ts";
import { MNIST_FILE_NAMES, splitFromIdx } from "../data/split.ts";
import { fit, type Progress } from "../engine/fit.ts";
import { buildModel } from "../engine/model.ts";
import { modelToJSON } from "../engine/model_json.ts";
import { createOptimizer } from "../engine/train.ts";
import { PRESETS } from "../presets/presets.ts";
import { PAUSE, STOP, type WorkerRequest } from "./_train_protocol.ts";
import { sdlmRate } from "../bench/_sdlm_rate.ts";

class Stopped extends Error {}

const post = (message: unknown, transfer: Transferable[] = []) =>
  (self as DedicatedWorkerGlobalScope).postMessage(message, transfer);

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const r = e.data;
  try {
    if (r.kind === "bench") {
      post({ kind: "bench", ...sdlmRate(r.seconds, r.reps) });
      return;
    }
    const p = PRESETS[r.preset];
    if (!p) throw new Error(`no preset "${r.preset}"`);
    const file = (name: string, magic: number) => parseIdx(new Uint8Array(r.files[name]), name, magic);
    const N = MNIST_FILE_NAMES;
    const data = {
      train: splitFromIdx(file(N.trainImages, 2051), file(N.trainLabels, 2049), N.trainImages, N.trainLabels),
      test: splitFromIdx(file(N.testImages, 2051), file(N.testLabels, 2049), N.testImages, N.testLabels),
    };
    const model = buildModel(p.graph, { registry: defaultRegistry, seed: r.seed });
    const optimizer = createOptimizer(p.optimizer, model, defaultRegistry);
    const sdlm = p.optimizer.type === "sdlm";
    const control = r.control ? new Int32Array(r.control) : null;
    post({ kind: "start", kernels: model.kernels, parameters: model.trainableCount });
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
      passes: r.passes,
      batch: p.batch,
      seed: r.seed,
      schedule: p.schedule,
      ...(sdlm ? { curvatureSamples: p.curvatureSamples ?? 500, curvatureMemory: p.curvatureMemory } : {}),
      ...(r.limit ? { limit: r.limit } : {}),
      ...(r.distort ? { distort: DEFAULT_DISTORTION } : {}),
      onProgress,
      onPass(s, testPredictions) {
        const h = s.history[s.history.length - 1];
        const c1 = Float32Array.from(model.layers[0].params[0].subarray(0, 6 * 25));
        post({
          kind: "pass",
          result: h,
          lossCurve: s.lossCurve,
          predictions: Int32Array.from(testPredictions.subarray(0, 100)),
          kernels: c1,
          model: modelToJSON(model),
        });
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
