/**
 * A user's plugin trains on several threads: worker threads (the parallel
 * trainer's, the background evaluator's) rebuild the model from its graph and
 * import each plugin that is not built in from the module URL it was
 * registered with, in Deno and in Chromium (the site's bundled worker imports
 * the plugin's module by its http URL). Without one, the error names the
 * layer and the fix.
 */
import assert from "node:assert/strict";
import { createRegistries } from "../builtins.ts";
import { fit } from "../engine/fit.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { ParallelTrainer } from "../engine/parallel.ts";
import { createOptimizer } from "../engine/train.ts";
import { assertAllClose, bytes, syntheticSplit } from "./_helpers.ts";
import { softsign } from "./fixtures/plugins/softsign.ts";
import * as esbuild from "esbuild";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../web/server.ts";
import { deno } from "./_task.ts";

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

const hasChromium = await Deno.stat("/usr/bin/chromium").then(() => true, () => false);

Deno.test({
  name: "plugin modules: in Chromium a user's layer trains on two threads, its worker importing it by URL, as in Deno",
  ignore: !hasChromium,
  async fn() {
    const site = await Deno.makeTempDir({ prefix: "lenet5-web-" });
    const server = await startServer({ port: 0, site, quiet: true });
    try {
      // The plugin module as a page loads it: esbuild's bundle of the same file.
      await esbuild.build({
        entryPoints: [fileURLToPath(MODULE)],
        bundle: true,
        format: "esm",
        platform: "browser",
        outfile: join(site, "softsign.js"),
        logLevel: "silent",
      });
      await esbuild.stop();
      const browser = fileURLToPath(new URL("./_plugin_browser.ts", import.meta.url));
      const out = await deno(["run", "-A", browser, server.url], { signal: AbortSignal.timeout(120_000) });
      assert.equal(out.code, 0, out.stderr);
      const r = JSON.parse(out.stdout);
      assert.deepEqual(r.errors, []);
      assert.ok(r.isolated);
      assert.equal(r.kernels, "wasm");

      // The same graph, data, batches and threads in Deno.
      const registry = createRegistries();
      registry.layers.register(softsign, { module: MODULE });
      const graph: GraphSpec = {
        input: [1, 12, 12],
        layers: [{ type: "conv2d", maps: 3, kernel: 5 }, { type: "softsign" }, { type: "flatten" }, {
          type: "full",
          units: 10,
        }],
        loss: { type: "softmax-cross-entropy" },
      };
      const model = buildModel(graph, { registry, seed: 4 });
      const optimizer = createOptimizer({ type: "sgd", lr: 0.05 }, model, registry);
      const par = await ParallelTrainer.create(model, { threads: 2, capacity: 16, registry });
      try {
        const x = new Float32Array(64 * 144).map((_, i) => Math.sin(i * 0.61) * 0.7);
        const labels = Int32Array.from({ length: 64 }, (_, i) => (i * 3) % 10);
        for (let s = 0; s < 64; s += 16) {
          par.trainStep(optimizer, x.subarray(s * 144, (s + 16) * 144), labels.subarray(s, s + 16), 16);
        }
      } finally {
        par.close();
      }
      assert.deepEqual(
        r.params,
        Array.from(model.params),
        "the browser's two threads give Deno's weights, bit for bit",
      );
    } finally {
      await server.close();
      await Deno.remove(site, { recursive: true });
    }
  },
});
