/**
 * A user's plugin trains on several threads: worker threads (the parallel
 * trainer's, the background evaluator's) rebuild the model from its graph and
 * import each plugin that is not built in from the module URL it was
 * registered with. Without one, the error names the layer and the fix.
 */
import assert from "node:assert/strict";
import { createRegistries } from "../builtins.ts";
import { fit } from "../engine/fit.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { ParallelTrainer } from "../engine/parallel.ts";
import { createOptimizer } from "../engine/train.ts";
import { assertAllClose, bytes, syntheticSplit } from "./_helpers.ts";
import { softsign } from "./fixtures/plugins/softsign.ts";

const GRAPH: GraphSpec = {
  input: [1, 32, 32],
  layers: [
    { type: "conv2d", maps: 4, kernel: 5 },
    { type: "softsign" },
    { type: "maxpool", size: 2 },
    { type: "flatten" },
    { type: "full", units: 10 },
  ],
  loss: { type: "softmax-cross-entropy" },
};
const MODULE = new URL("./fixtures/plugins/softsign.ts", import.meta.url);
const data = { train: syntheticSplit(48, 1), test: syntheticSplit(20, 2) };

async function run(threads: number, background: boolean) {
  const registry = createRegistries();
  registry.layers.register(softsign, { module: MODULE });
  const model = buildModel(GRAPH, { registry, seed: 2 });
  const optimizer = createOptimizer({ type: "sgd", lr: 0.05 }, model, registry);
  const state = await fit(model, optimizer, data, { passes: 2, batch: 16, seed: 1, threads, background, registry });
  return { params: model.params, history: state.history.map((h) => [h.loss, h.trainError, h.testError]) };
}

Deno.test("plugin modules: a user's layer trains on two threads with background evaluation, as in one thread", async () => {
  const two = await run(2, true), twoHere = await run(2, false);
  assert.deepEqual(bytes(two.params), bytes(twoHere.params), "the same weights whichever thread evaluated");
  assert.deepEqual(two.history, twoHere.history, "the same losses and errors whichever thread evaluated");
  // Only the order of the gradient sums differs from one thread.
  const one = await run(1, false);
  assertAllClose(two.params, one.params, "params", 1e-4, 1e-6);
  assert.ok(two.history[1][0] < two.history[0][0], "the loss falls");
});

Deno.test("plugin modules: without a module URL the workers cannot import the plugin, and the error says so", async () => {
  const registry = createRegistries();
  registry.layers.register(softsign);
  const model = buildModel(GRAPH, { registry, seed: 2 });
  await assert.rejects(
    () => ParallelTrainer.create(model, { threads: 2, registry }),
    /Cannot train on several threads: layer "softsign1" has type "softsign", a plugin that is not built in and was registered without a module URL; register it with \{ module: import\.meta\.url \}/,
  );
  // A module that does not export the plugin: the worker says which module and type.
  registry.layers.register(softsign, { replace: true, module: new URL("./_helpers.ts", import.meta.url) });
  await assert.rejects(
    () => ParallelTrainer.create(model, { threads: 2, registry }),
    /Cannot load layers plugin "softsign": module file:\/\/\S+\/tests\/_helpers\.ts exports no plugin of that type/,
  );
});
