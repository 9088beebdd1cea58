/**
 * The browser half of the last test of tests/plugin_modules_test.ts, in its
 * own process (playwright-core needs more permissions than the tests): on the
 * page at URL (cross-origin isolated), a Web Worker imports the site's
 * core.js and a user's plugin module, softsign.js, registers the plugin with
 * its URL, and trains a graph that uses it on two threads (ParallelTrainer
 * with the site's parallel_worker.js, whose worker imports softsign.js
 * itself). Prints the kernels and the weights as JSON.
 *
 *   deno run -A tests/_plugin_browser.ts URL
 *
 * @module
 */
import { launchChromium } from "./_browser.ts";

const [url] = Deno.args;
const profile = await Deno.makeTempDir({ prefix: "lenet5-chromium-" });
const browser = await launchChromium(profile);
try {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  // The parallel trainer waits on its workers (Atomics.wait), which a page's main thread may not: it runs in a worker.
  const out = await page.evaluate(async () => {
    const base = location.href;
    const source = `
      const core = await import(new URL("core.js", "${base}").href);
      const pluginUrl = new URL("softsign.js", "${base}").href;
      const { softsign } = await import(pluginUrl);
      const registry = core.createRegistries();
      registry.layers.register(softsign, { module: pluginUrl });
      const graph = {
        input: [1, 12, 12],
        layers: [{ type: "conv2d", maps: 3, kernel: 5 }, { type: "softsign" }, { type: "flatten" }, { type: "full", units: 10 }],
        loss: { type: "softmax-cross-entropy" },
      };
      const model = core.buildModel(graph, { registry, seed: 4 });
      const optimizer = core.createOptimizer({ type: "sgd", lr: 0.05 }, model, registry);
      const par = await core.ParallelTrainer.create(model, {
        threads: 2, capacity: 16, registry, workerUrl: new URL("parallel_worker.js", "${base}"),
      });
      try {
        const x = new Float32Array(64 * 144).map((_, i) => Math.sin(i * 0.61) * 0.7);
        const labels = Int32Array.from({ length: 64 }, (_, i) => (i * 3) % 10);
        for (let s = 0; s < 64; s += 16) par.trainStep(optimizer, x.subarray(s * 144, (s + 16) * 144), labels.subarray(s, s + 16), 16);
      } finally {
        par.close();
      }
      postMessage({ isolated: crossOriginIsolated, kernels: model.kernels, params: Array.from(model.params) });`;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })), { type: "module" });
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(e.message));
    });
  });
  console.log(JSON.stringify({ ...(out as object), errors }));
} finally {
  await browser.close();
  await Deno.remove(profile, { recursive: true });
}
