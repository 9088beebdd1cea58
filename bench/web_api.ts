/**
 * The web server's API under load, then under attack, on 127.0.0.1.
 *
 * Load: `--clients` concurrent clients (default 50) post real MNIST test
 * digits as JSON to /api/predict for `--seconds` (default 10). Prints
 * requests/s and the p50/p99 latency, and counts failed requests and 5xx
 * answers (there should be none).
 *
 * Attack: for `--attack-seconds` (default 10) the same JSON clients go on
 * while `--attackers` clients (default 4) post the costliest PNG the API
 * accepts (2048 x 2048, 16-bit RGBA, a real digit) and `--bombers` clients
 * (default 4) post a 261 KB 8192 x 8192 PNG of zeros (refused from its
 * header, 413), and one client asks for /api/models every 20 ms. Prints the
 * peak resident set (the server runs in this process), the JSON clients'
 * requests/s and p99, /api/models' worst latency, and how the PNGs were
 * answered (200, or 503 when the decode queue is full).
 *
 *   deno run --allow-read --allow-write --allow-net=127.0.0.1 --allow-env --allow-run bench/web_api.ts [--clients N] [--seconds S] [--attackers N] [--bombers N] [--attack-seconds S] [--docs FILE]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { loadMnist } from "../data/mnist.ts";
import { compress, png } from "../tests/_files.ts";
import { startServer } from "../web/server.ts";
import { cpuModel, rewriteDocs } from "./_docs.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "50" },
    seconds: { type: "string", default: "10" },
    attackers: { type: "string", default: "4" },
    bombers: { type: "string", default: "4" },
    "attack-seconds": { type: "string", default: "10" },
    docs: { type: "string" },
  },
});
const clients = Number(values.clients), seconds = Number(values.seconds);
const attackers = Number(values.attackers), bombers = Number(values.bombers);
const attackSeconds = Number(values["attack-seconds"]);
const MB = 2 ** 20;

/** Latencies in ms: the quantile `p` (0..1). */
const quantile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;

/** A test digit drawn 2048 x 2048, dark ink on white, as a 16-bit RGBA PNG: the most work the API takes. */
async function largestPng(digit: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const side = 2048, stride = side * 8 + 1, raw = new Uint8Array(side * stride);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const g = 255 - digit[Math.floor((y * 28) / side) * 28 + Math.floor((x * 28) / side)];
      raw.fill(g, y * stride + 1 + 8 * x, y * stride + 1 + 8 * x + 6);
      raw.fill(255, y * stride + 7 + 8 * x, y * stride + 9 + 8 * x);
    }
  }
  return png(side, side, 16, 6, [await compress("deflate", raw)]) as Uint8Array<ArrayBuffer>;
}

/** 8192 x 8192 8-bit RGBA zeros: 268 MB of rows deflated to about 261 KB. */
async function zerosPng(): Promise<Uint8Array<ArrayBuffer>> {
  const side = 8192, zeros = await compress("deflate", new Uint8Array(0), side * (side * 4 + 1));
  return png(side, side, 8, 6, [zeros]) as Uint8Array<ArrayBuffer>;
}

/** JSON clients posting digits until `until`: their latencies, failures and 5xx answers. */
async function jsonLoad(url: string, bodies: string[], until: number) {
  const latencies: number[] = [];
  let failed = 0, serverErrors = 0;
  await Promise.all(bodies.map(async (body) => {
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
  return { latencies: latencies.sort((a, b) => a - b), failed, serverErrors };
}

/** `n` clients posting `body` as a PNG until `until`: the statuses they got. */
async function pngLoad(url: string, body: Uint8Array<ArrayBuffer>, n: number, until: number) {
  const statuses = new Map<number | "failed", number>();
  const count = (k: number | "failed") => statuses.set(k, (statuses.get(k) ?? 0) + 1);
  await Promise.all(Array.from({ length: n }, async () => {
    while (performance.now() < until) {
      try {
        const r = await fetch(url, { method: "POST", body, headers: { "content-type": "image/png" } });
        await r.arrayBuffer();
        count(r.status);
      } catch {
        count("failed");
      }
    }
  }));
  return statuses;
}

const { test } = await loadMnist();
const site = await Deno.makeTempDir({ prefix: "lenet5-web-bench-" });
const server = await startServer({ port: 0, site, quiet: true });
try {
  const url = `${server.url}api/predict`;
  const digit = (c: number) => Array.from(test.images.subarray(c * 784, (c + 1) * 784));
  const bodies = Array.from({ length: clients }, (_, c) => JSON.stringify({ pixels: digit(c) }));
  // Warm-up: the first request creates the session.
  await (await fetch(url, { method: "POST", body: bodies[0] })).json();
  const t0 = performance.now();
  const load = await jsonLoad(url, bodies, t0 + seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = await cpuModel();
  const day = `${cpu ? `${cpu}, ` : ""}${new Date().toISOString().slice(0, 10)}`;
  const result = `web API, ${clients} clients for ${seconds} s on 127.0.0.1 (${navigator.hardwareConcurrency} cores, ` +
    `${day}): ${(load.latencies.length / elapsed).toFixed(0)} requests/s, ` +
    `p50 ${quantile(load.latencies, 0.5).toFixed(1)} ms, p99 ${quantile(load.latencies, 0.99).toFixed(1)} ms; ` +
    `${load.failed} failed, ${load.serverErrors} 5xx`;
  console.log(result);
  if (values.docs) await rewriteDocs(values.docs, "web", [result + "."]);

  // ------------------------------------------------------------- the attack
  const largest = await largestPng(test.images.subarray(0, 784)), zeros = await zerosPng();
  const big = await fetch(url, { method: "POST", body: largest, headers: { "content-type": "image/png" } });
  if (big.status !== 200) {
    throw new Error(`Cannot attack: the largest PNG gets HTTP ${big.status}: ${await big.text()}`);
  }
  await big.arrayBuffer();
  const rssBefore = Deno.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss), 20);
  const a0 = performance.now(), until = a0 + attackSeconds * 1000;
  const modelsLatencies: number[] = [];
  const probe = async () => {
    while (performance.now() < until) {
      const start = performance.now();
      await (await fetch(`${server.url}api/models`)).arrayBuffer();
      modelsLatencies.push(performance.now() - start);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const [json, pngs, bombs] = await Promise.all([
    jsonLoad(url, bodies, until),
    pngLoad(url, largest, attackers, until),
    pngLoad(url, zeros, bombers, until),
    probe(),
  ]);
  const attackElapsed = (performance.now() - a0) / 1000;
  clearInterval(sampler);
  rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
  const get = (m: Map<number | "failed", number>, k: number | "failed") => m.get(k) ?? 0;
  const other = (m: Map<number | "failed", number>, ok: (number | "failed")[]) =>
    [...m].filter(([k]) => !ok.includes(k)).map(([k, v]) => `, ${v} ${k}`).join("");
  const otherPng = other(pngs, [200, 503]), otherBombs = other(bombs, [413]);
  const kb = (b: Uint8Array) => (b.length / 1024).toFixed(0), mb = (n: number) => (n / MB).toFixed(0);
  const rate = (json.latencies.length / attackElapsed).toFixed(0), p99 = quantile(json.latencies, 0.99).toFixed(1);
  const attack =
    `web API under attack, ${clients} JSON clients beside ${attackers} posting 2048x2048 16-bit RGBA PNGs ` +
    `(${kb(largest)} KB) and ${bombers} posting 8192x8192 ones of zeros (${kb(zeros)} KB) for ${attackSeconds} s ` +
    `(${navigator.hardwareConcurrency} cores, ${day}): peak RSS ${mb(rssPeak)} MB (${mb(rssBefore)} MB before); JSON ` +
    `${rate} requests/s, p99 ${p99} ms, ${json.failed} failed, ${json.serverErrors} 5xx; /api/models at worst ` +
    `${Math.max(...modelsLatencies).toFixed(1)} ms; 2048x2048 PNGs: ${get(pngs, 200)} answered, ${get(pngs, 503)} ` +
    `refused busy (503)${otherPng}; 8192x8192 PNGs: ${get(bombs, 413)} refused (413)${otherBombs}`;
  console.log(attack);
  if (values.docs) await rewriteDocs(values.docs, "web-attack", [attack + "."]);
} finally {
  await server.close();
  await Deno.remove(site, { recursive: true });
}
