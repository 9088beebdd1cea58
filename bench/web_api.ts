/**
 * The web server's API under load: `--clients` concurrent clients (default
 * 50) posting real MNIST test digits as JSON to /api/predict for `--seconds`
 * (default 10) on 127.0.0.1. Prints requests/s and the p50/p99 latency, and
 * counts failed requests and 5xx answers (there should be none).
 *
 *   deno run --allow-read --allow-write --allow-net=127.0.0.1 --allow-env --allow-run bench/web_api.ts [--clients N] [--seconds S] [--docs FILE]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadMnist } from "../data/mnist.ts";
import { startServer } from "../web/server.ts";
import { rewriteDocs } from "./_docs.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "50" },
    seconds: { type: "string", default: "10" },
    docs: { type: "string" },
  },
});
const clients = Number(values.clients), seconds = Number(values.seconds);

const { test } = await loadMnist();
const site = await Deno.makeTempDir({ prefix: "lenet5-web-bench-" });
const server = await startServer({ port: 0, site, quiet: true });
try {
  const url = `${server.url}api/predict`;
  // Warm-up: the first request creates the session.
  await (await fetch(url, {
    method: "POST",
    body: JSON.stringify({ pixels: Array.from(test.images.subarray(0, 784)) }),
  })).json();
  const latencies: number[] = [];
  let failed = 0, serverErrors = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const body = JSON.stringify({ pixels: Array.from(test.images.subarray(c * 784, (c + 1) * 784)) });
    while (performance.now() < until) {
      const start = performance.now();
      try {
        const r = await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } });
        await r.arrayBuffer();
        if (r.status >= 500) serverErrors++;
        else latencies.push(performance.now() - start);
      } catch {
        failed++;
      }
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const result = `web API, ${clients} clients for ${seconds} s on 127.0.0.1 (${navigator.hardwareConcurrency} cores, ` +
    `${new Date().toISOString().slice(0, 10)}): ${(latencies.length / elapsed).toFixed(0)} requests/s, ` +
    `p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms; ${failed} failed, ${serverErrors} 5xx`;
  console.log(result);
  if (values.docs) await rewriteDocs(values.docs, "web", [result + "."]);
} finally {
  await server.close();
  await Deno.remove(site, { recursive: true });
}
