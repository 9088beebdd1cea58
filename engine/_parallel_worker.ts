/**
 * A worker of engine/parallel.ts: builds a replica of the model over the
 * shared parameters, then runs its share of each job until told to stop.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { buildModel, type GraphSpec } from "./model.ts";
import { registriesWith } from "./plugin_modules.ts";
import { CONTROL, floatView, OP, type WorkerInit } from "./parallel.ts";

self.onmessage = async (e: MessageEvent<WorkerInit>) => {
  const init = e.data;
  const ctrl = new Int32Array(init.control);
  try {
    const view = (b: SharedArrayBuffer) => floatView(init.dtype, b);
    const params = view(init.params), grads = view(init.grads);
    // The wasm kernels need the parameters in the replica's own memory: copied in before each job, the
    // gradients copied out after it. The js kernels work on the shared buffers directly.
    const wasm = init.kernels === "wasm";
    const model = buildModel(init.graph as GraphSpec, {
      registry: await registriesWith(init.plugins),
      dtype: init.dtype,
      kernels: wasm ? "wasm" : "js",
      ...(wasm ? {} : { storage: { params, grads } }),
    });
    const input = view(init.input), labels = new Int32Array(init.labels), scores = view(init.scores);
    const losses = new Float64Array(init.losses);
    const size = model.inputSize, k = model.classes, w = init.index;
    self.postMessage("ready");
    let seen = 0;
    for (;;) {
      while (Atomics.load(ctrl, CONTROL.SEQ) === seen) Atomics.wait(ctrl, CONTROL.SEQ, seen);
      seen = Atomics.load(ctrl, CONTROL.SEQ);
      const op = ctrl[CONTROL.OP];
      if (op === OP.STOP) break;
      const start = ctrl[CONTROL.START + w], count = ctrl[CONTROL.COUNT + w];
      if (wasm) model.params.set(params);
      if (op === OP.TRAIN) model.zeroGrads();
      if (count > 0) {
        // The scores go back in both modes: training reports each pattern's prediction before the update.
        scores.set(model.forward(input.subarray(start * size, (start + count) * size), count), start * k);
        if (op === OP.TRAIN) {
          const l = labels.subarray(start, start + count);
          losses[w] = model.backward(l, { scale: 1 / ctrl[CONTROL.TOTAL] }) * count;
        }
      } else losses[w] = 0;
      if (wasm && op === OP.TRAIN) grads.set(model.grads);
      Atomics.store(ctrl, CONTROL.DONE + w, seen);
      Atomics.notify(ctrl, CONTROL.DONE + w);
    }
  } catch (err) {
    Atomics.store(ctrl, CONTROL.DONE + init.index, -1);
    Atomics.notify(ctrl, CONTROL.DONE + init.index);
    self.postMessage(`Cannot run a training worker: ${err instanceof Error ? err.message : err}`);
  }
  self.close();
};
