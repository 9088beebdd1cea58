/**
 * compare.ts's `engine-chromium` row, in its own process (esbuild, the
 * server and playwright-core need more permissions than the bench): bundles
 * bench/_chromium_worker.ts with esbuild as web/build.ts bundles the page's
 * workers, serves it on 127.0.0.1 from a cross-origin-isolated page (so the
 * engine takes its WebAssembly kernels, as in the page), opens that page in
 * Debian's Chromium and has the worker time one-pattern SDLM training of
 * lenet5 as compare.ts times the engine in Deno. Prints JSON.
 *
 *   deno run -A bench/_chromium.ts SECONDS REPS
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { launchChromium } from "../tests/_browser.ts";

const [seconds, reps] = Deno.args;

let worker: Uint8Array;
try {
  const built = await esbuild.build({
    entryPoints: [fileURLToPath(new URL("./_chromium_worker.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    minify: true,
    sourcemap: false,
    logLevel: "silent",
  });
  worker = built.outputFiles[0].contents;
} finally {
  await esbuild.stop();
}

const isolated = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
  const path = new URL(req.url).pathname;
  if (path === "/worker.js") {
    return new Response(worker as Uint8Array<ArrayBuffer>, {
      headers: { ...isolated, "content-type": "text/javascript" },
    });
  }
  if (path === "/") return new Response("<!doctype html><title>bench</title>", { headers: isolated });
  return new Response("not found", { status: 404 });
});
const profile = await Deno.makeTempDir({ prefix: "lenet5-chromium-" });
const browser = await launchChromium(profile);
try {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${server.addr.port}/`);
  const version = browser.browser()?.version() ?? "";
  const r = await page.evaluate(([s, n]) =>
    new Promise((resolve, reject) => {
      const w = new Worker("worker.js", { type: "module" });
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => reject(new Error(e.message));
      w.postMessage({ seconds: s, reps: n });
    }), [Number(seconds), Number(reps)]);
  console.log(JSON.stringify({ ...(r as object), version }));
} finally {
  await browser.close();
  await server.shutdown();
  await Deno.remove(profile, { recursive: true });
}
