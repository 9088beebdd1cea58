/**
 * The library core (core.ts) bundles for a browser unchanged: esbuild, with
 * the browser as platform, bundles it into one ES module that names no Deno
 * API and no `node:` module and imports nothing else. The bundle also runs: a
 * Web Worker imports it from a blob URL (as a page would) and trains lenet5
 * to the same weights, bit for bit, as the sources do here, on the same
 * (WebAssembly) kernels, whose module travels inside the bundle.
 */
import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import * as core from "../core.ts";

const root = new URL("..", import.meta.url).pathname;

async function bundleCore(): Promise<string> {
  try {
    const result = await esbuild.build({
      entryPoints: [`${root}core.ts`],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      write: false,
      logLevel: "silent",
    });
    return result.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}

/** Ten one-pattern SDLM steps of lenet5 from seed 3. Runs here, and as its source text in the worker. */
function tenSteps(api: typeof core) {
  const m = api.buildModel(api.PRESETS.lenet5.graph, { registry: api.defaultRegistry, seed: 3 });
  const x = new Float32Array(10 * 1024).map((_, i) => Math.sin(i * 0.37) * 0.6 + 0.3);
  const labels = Uint8Array.from({ length: 10 }, (_, i) => i);
  const opt = api.createOptimizer(api.PRESETS.lenet5.optimizer, m, api.defaultRegistry);
  api.estimateCurvature(m, x, labels, 10);
  for (let s = 0; s < 10; s++) {
    api.trainStep(m, opt, x.subarray(s * 1024, (s + 1) * 1024), labels.subarray(s, s + 1), 1, 0.0005);
  }
  return m;
}

Deno.test("core.ts bundles for the browser with no Deno API and no node: module, and trains in a worker", async () => {
  const code = await bundleCore();
  assert.ok(code.length > 50_000, `a whole engine, got ${code.length} bytes`);
  assert.doesNotMatch(code, /\bDeno\./, "the bundle names a Deno API");
  assert.doesNotMatch(code, /["'`]node:/, "the bundle imports a node: module");
  assert.doesNotMatch(code, /^\s*import\s/m, "the bundle imports nothing outside itself");

  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  const main = `import * as api from "${url}";
const m = (${tenSteps.toString()})(api);
postMessage({ kernels: m.kernels, params: Array.from(m.params) });`;
  const worker = new Worker(URL.createObjectURL(new Blob([main], { type: "text/javascript" })), { type: "module" });
  const got = await new Promise<{ kernels: string; params: number[] }>((resolve, reject) => {
    worker.onmessage = (e) => resolve(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  });
  worker.terminate();
  const here = tenSteps(core);
  assert.equal(got.kernels, "wasm");
  assert.equal(here.kernels, "wasm");
  assert.deepEqual(got.params, Array.from(here.params), "the bundle trains to the same weights, bit for bit");
});
