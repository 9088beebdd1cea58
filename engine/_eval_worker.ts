/**
 * The worker of engine/evaluator.ts: builds a replica of the model over the
 * shared weights, then evaluates each job's ranges with `evaluate` until told
 * to stop.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { Split } from "../data/split.ts";
import { ERROR_BYTES, EVAL, type EvalWorkerInit } from "./evaluator.ts";
import { evaluate } from "./evaluate.ts";
import { buildModel, type GraphSpec } from "./model.ts";
import { floatView } from "./parallel.ts";
import { registriesWith } from "./plugin_modules.ts";

self.onmessage = async (e: MessageEvent<EvalWorkerInit>) => {
  const init = e.data;
  const ctrl = new Int32Array(init.control);
  try {
    // The wasm kernels need the weights in the replica's own memory: copied in before each job.
    const params = floatView(init.dtype, init.params), wasm = init.kernels === "wasm";
    const model = buildModel(init.graph as GraphSpec, {
      registry: await registriesWith(init.plugins),
      dtype: init.dtype,
      kernels: wasm ? "wasm" : "js",
      ...(wasm ? {} : { storage: { params } }),
    });
    const predictions = new Int32Array(init.predictions);
    self.postMessage("ready");
    let seen = 0;
    for (;;) {
      while (Atomics.load(ctrl, EVAL.SEQ) === seen) Atomics.wait(ctrl, EVAL.SEQ, seen);
      seen = Atomics.load(ctrl, EVAL.SEQ);
      if (seen < 0) break;
      const t0 = performance.now();
      if (wasm) model.params.set(params);
      const range = (from: number, to: number, split: Split) =>
        to > from ? evaluate(model, split, { from, limit: to }) : undefined;
      const train = range(ctrl[EVAL.TRAIN_FROM], ctrl[EVAL.TRAIN_TO], init.train);
      const test = range(ctrl[EVAL.TEST_FROM], ctrl[EVAL.TEST_TO], init.test);
      ctrl[EVAL.TRAIN_WRONG] = train?.wrong ?? 0;
      ctrl[EVAL.TEST_WRONG] = test?.wrong ?? 0;
      if (test) predictions.set(test.predictions, ctrl[EVAL.TEST_FROM]);
      ctrl[EVAL.MILLIS] = Math.round(performance.now() - t0);
      Atomics.store(ctrl, EVAL.DONE, seen);
      Atomics.notify(ctrl, EVAL.DONE);
    }
  } catch (err) {
    const reason = new TextEncoder().encode(err instanceof Error ? err.message : String(err));
    new Uint8Array(init.error).set(reason.subarray(0, ERROR_BYTES));
    Atomics.store(ctrl, EVAL.DONE, -1);
    Atomics.notify(ctrl, EVAL.DONE);
    self.postMessage(`Cannot run the evaluation worker: ${err instanceof Error ? err.message : err}`);
  }
  self.close();
};
