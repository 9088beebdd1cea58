/**
 * End-to-end throughput: this engine against TensorFlow.js (WebAssembly
 * backend, SIMD, one thread) training and inferring the same networks, and
 * onnxruntime-web inferring the engine's ONNX export, in one process run.
 * Prints a table (samples/s, and each row's ratio to each peer on the same
 * preset, batch and mode); `--json FILE` writes the rows. See bench/README.md.
 *
 *   deno run --allow-read --allow-write --allow-sys=loadavg bench/compare.ts [--json FILE] [--seconds S] [--reps R] [--threads T] [--docs FILE]
 *
 * `--docs FILE` also rewrites the table in FILE between `<!-- bench:compare -->` and `<!-- /bench:compare -->`
 * (`deno task bench` passes docs/performance.md).
 */
import { cycling, measure, pool } from "./_sdlm_rate.ts";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-web";
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type Model } from "../engine/model.ts";
import { ParallelTrainer } from "../engine/parallel.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import { exportOnnx } from "../export/onnx.ts";
import { PRESETS } from "../presets/presets.ts";
import { initTfjsWasm, tfNetFrom } from "./_tfjs.ts";
import { cpuModel, rewriteDocs } from "./_docs.ts";

const { values: opts } = parseArgs({
  options: {
    json: { type: "string" },
    seconds: { type: "string", default: "0.5" },
    reps: { type: "string", default: "5" },
    threads: { type: "string", default: "2" },
    docs: { type: "string" },
  },
});
const SECONDS = Number(opts.seconds), REPS = Number(opts.reps), THREADS = Number(opts.threads);

/** The 1-minute load average (needs --allow-sys=loadavg), or "?". */
function loadAverage(): string {
  try {
    return Deno.loadavg()[0].toFixed(2);
  } catch {
    return "?";
  }
}
const loadAtStart = loadAverage();

/** One measured configuration. */
interface Row {
  system: "engine" | "engine-js" | "engine-chromium" | "tfjs-wasm" | "onnxruntime-web" | "onnxruntime-webgpu";
  preset: string;
  batch: number;
  threads: number;
  mode: "train" | "infer";
  samplesPerSecond: number;
  /** This row's samples/s divided by each peer's (1 thread, same preset, batch and mode). */
  ratio: Record<string, number>;
  /** WebGPU rows: the adapter (a software one is no GPU) and the first run's time, shader compilation included. */
  note?: string;
}

const POOL = 256;
const CASES: { preset: string; batch: number; mode: "train" | "infer" }[] = [
  { preset: "lenet5", batch: 1, mode: "train" },
  { preset: "lenet5", batch: 32, mode: "train" },
  { preset: "lenet5", batch: 32, mode: "infer" },
  { preset: "lenet5-modern", batch: 1, mode: "train" },
  { preset: "lenet5-modern", batch: 32, mode: "train" },
  { preset: "lenet5-modern", batch: 32, mode: "infer" },
];

/** A fresh model of a preset with its optimizer (SDLM gets a curvature estimate first). */
function engineSetup(preset: string, kernels: "auto" | "js" = "auto") {
  const p = PRESETS[preset];
  const model = buildModel(p.graph, { registry: defaultRegistry, seed: 1, kernels });
  const data = pool(model, POOL, 2);
  const optimizer = createOptimizer(p.optimizer, model, defaultRegistry);
  if (optimizer.plugin.needsCurvature) estimateCurvature(model, data.x, data.labels, 100);
  return { model, data, optimizer, lr: p.schedule?.[0] };
}

const rows: Row[] = [];

type Case = (typeof CASES)[number];
type Pool = ReturnType<typeof pool>;

/** Measures one case by its mode: `train(x, labels, n)` steps or `infer(x, n)` calls, cycling through the pool. */
async function record(
  system: Row["system"],
  c: Case,
  threads: number,
  size: number,
  data: Pool,
  run: {
    train: (x: Float32Array, labels: Int32Array, n: number) => unknown;
    infer: (x: Float32Array, n: number) => unknown;
  },
): Promise<void> {
  const fn = c.mode === "train"
    ? (x: Float32Array, s: number) => run.train(x, data.labels.subarray(s, s + c.batch), c.batch)
    : (x: Float32Array) => run.infer(x, c.batch);
  const samplesPerSecond = await measure(cycling(c.batch, size, fn, data.x, POOL), c.batch, SECONDS, REPS);
  rows.push({ system, ...c, threads, samplesPerSecond, ratio: {} });
  const rate = samplesPerSecond.toFixed(0);
  console.error(`  ${system} ${c.preset} batch ${c.batch} ${threads} thread(s) ${c.mode}: ${rate}/s`);
}

/** Adds a one-thread row measured elsewhere, with its note. */
const addRow = (system: Row["system"], c: Case, samplesPerSecond: number, note: string) =>
  rows.push({ system, ...c, threads: 1, samplesPerSecond, ratio: {}, note });

console.error(`Measuring (${SECONDS} s x ${REPS} runs per row, median) ...`);

// This engine (its default kernels: WebAssembly SIMD), one thread and (for batches) THREADS threads.
/** Names the kernels of the row just recorded. */
const noteKernels = (m: Model) => (rows[rows.length - 1].note = `${m.kernels} kernels`);
/** The engine's one-thread row of a case, on its default kernels ("engine") or the JS ones ("engine-js"). */
async function engineRow(c: Case, kernels: "auto" | "js") {
  const setup = engineSetup(c.preset, kernels), { model, optimizer, lr } = setup;
  await record(kernels === "js" ? "engine-js" : "engine", c, 1, model.inputSize, setup.data, {
    train: (x, labels, n) => trainStep(model, optimizer, x, labels, n, lr),
    infer: (x, n) => model.forward(x, n),
  });
  noteKernels(model);
  return setup;
}
for (const c of CASES) {
  const { model, data, optimizer, lr } = await engineRow(c, "auto");
  if (THREADS > 1 && c.batch > 1) {
    const par = await ParallelTrainer.create(model, { threads: THREADS });
    try {
      await record("engine", c, THREADS, model.inputSize, data, {
        train: (x, labels, n) => par.trainStep(optimizer, x, labels, n, lr),
        infer: (x, n) => par.forward(x, n),
      });
      noteKernels(model);
    } finally {
      par.close();
    }
  }
}

// The same one-pattern SDLM training in Chromium, in a Web Worker bundled by esbuild (bench/_chromium.ts).
if (await Deno.stat("/usr/bin/chromium").then(() => true, () => false)) {
  const root = new URL("..", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}bench/_chromium.ts`, String(SECONDS), String(REPS)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`The Chromium row failed: ${new TextDecoder().decode(out.stderr)}`);
  const r = JSON.parse(new TextDecoder().decode(out.stdout));
  addRow("engine-chromium", CASES[0], r.patternsPerSecond, `Chromium ${r.version}, a Web Worker, ${r.kernels} kernels`);
  console.error(`  engine-chromium lenet5 batch 1 train: ${r.patternsPerSecond.toFixed(0)}/s`);
} else console.error("  no /usr/bin/chromium: no engine-chromium row");

// This engine on its JS kernels, one thread.
for (const c of CASES) await engineRow(c, "js");

// TensorFlow.js, WebAssembly backend.
const backend = await initTfjsWasm();
console.error(`  TF.js wasm backend: SIMD ${backend.simd}, threads ${backend.threads}`);
for (const c of CASES) {
  const { model, data } = engineSetup(c.preset);
  const p = PRESETS[c.preset];
  const net = tfNetFrom(model, {
    type: p.optimizer.type === "adam" ? "adam" : "sgd",
    lr: (p.optimizer.lr as number | undefined) ?? 1e-3,
  });
  try {
    // Same function: the loss of one batch from the same weights.
    const a = net.loss(data.x, data.labels, 8);
    model.forward(data.x.subarray(0, 8 * model.inputSize), 8);
    const b = model.lossValue(data.labels.subarray(0, 8));
    if (!(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)))) {
      throw new Error(`${c.preset}: TF.js loss ${a} differs from the engine's ${b}: not the same network`);
    }
    await record("tfjs-wasm", c, 1, model.inputSize, data, {
      train: (x, labels, n) => net.trainStep(x, labels, n),
      infer: (x, n) => net.infer(x, n),
    });
  } finally {
    net.dispose();
  }
}

// onnxruntime-web on the ONNX export, one thread.
ort.env.wasm.numThreads = 1;
for (const c of CASES.filter((c) => c.mode === "infer")) {
  const { model, data } = engineSetup(c.preset);
  const session = await ort.InferenceSession.create(exportOnnx(model));
  try {
    const dims = [c.batch, ...model.inputShape];
    const size = model.inputSize;
    const scores = (await session.run({ input: new ort.Tensor("float32", data.x.slice(0, c.batch * size), dims) }))
      .scores.data as Float32Array;
    const mine = model.forward(data.x.subarray(0, c.batch * size), c.batch);
    const worst = scores.reduce((m, v, i) => Math.max(m, Math.abs(v - mine[i]) / Math.max(1, Math.abs(v))), 0);
    if (!(worst < 1e-3)) throw new Error(`${c.preset}: onnxruntime-web scores differ from the engine's by ${worst}`);
    await record("onnxruntime-web", c, 1, size, data, {
      train: () => {
        throw new Error("onnxruntime-web only infers here");
      },
      infer: (x) => session.run({ input: new ort.Tensor("float32", x, dims) }, ["scores"]),
    });
  } finally {
    await session.release();
  }
}

// onnxruntime-web's WebGPU backend on the adapter navigator.gpu offers (Mesa's llvmpipe here: a CPU, not a GPU).
const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
if (!adapter) console.error("  no WebGPU adapter: no onnxruntime-webgpu rows");
else {
  const gpu = await import("onnxruntime-web/webgpu");
  gpu.env.wasm.numThreads = 1;
  const label = adapter.info.description || adapter.info.vendor || "unknown adapter";
  for (
    const c of [...CASES.filter((c) => c.mode === "infer"), { preset: "lenet5", batch: 1000, mode: "infer" as const }]
  ) {
    const { model } = engineSetup(c.preset);
    const data = pool(model, Math.max(POOL, 2 * c.batch), 2);
    const dims = [c.batch, ...model.inputShape];
    const size = model.inputSize;
    const t0 = performance.now();
    const session = await gpu.InferenceSession.create(exportOnnx(model), { executionProviders: ["webgpu"] });
    try {
      const x0 = data.x.slice(0, c.batch * size);
      const scores = (await session.run({ input: new gpu.Tensor("float32", x0, dims) })).scores.data as Float32Array;
      const firstRun = performance.now() - t0;
      const mine = model.forward(x0, c.batch);
      const worst = scores.reduce((m, v, i) => Math.max(m, Math.abs(v - mine[i]) / Math.max(1, Math.abs(v))), 0);
      if (!(worst < 1e-3)) throw new Error(`${c.preset}: WebGPU scores differ from the engine's by ${worst}`);
      const cycle = (x: Float32Array) => session.run({ input: new gpu.Tensor("float32", x, dims) }, ["scores"]);
      const samplesPerSecond = await measure(cycling(c.batch, size, cycle, data.x, POOL), c.batch, SECONDS, REPS);
      addRow("onnxruntime-webgpu", c, samplesPerSecond, `${label}; first run ${firstRun.toFixed(0)} ms`);
      const rate = samplesPerSecond.toFixed(0);
      console.error(`  onnxruntime-webgpu ${c.preset} batch ${c.batch} infer: ${rate}/s (${label})`);
    } finally {
      await session.release();
    }
  }
}

// Ratios to each peer at one thread.
const PEERS = ["engine", "engine-js", "tfjs-wasm", "onnxruntime-web"] as const;
for (const r of rows) {
  for (const peer of PEERS) {
    const p = rows.find((q) =>
      q.system === peer && q.threads === 1 && q.preset === r.preset && q.batch === r.batch && q.mode === r.mode
    );
    if (p && p !== r) r.ratio[peer] = r.samplesPerSecond / p.samplesPerSecond;
  }
}

const machine = {
  cores: navigator.hardwareConcurrency,
  deno: Deno.version.deno,
  v8: Deno.version.v8,
  loadAverage: { start: loadAtStart, end: loadAverage() },
  date: new Date().toISOString(),
};
const head = ["system", "preset", "batch", "threads", "mode", "samples/s", ...PEERS.map((p) => `vs ${p}`), "note"];
const table = [
  head,
  ...rows.map((r) => [
    r.system,
    r.preset,
    String(r.batch),
    String(r.threads),
    r.mode,
    r.samplesPerSecond.toFixed(0),
    ...PEERS.map((p) => (r.ratio[p] === undefined ? "" : `${r.ratio[p].toFixed(2)}x`)),
    r.note ?? "",
  ]),
];
const widths = head.map((_, i) => Math.max(...table.map((r) => r[i].length)));
const numeric = (i: number) => i >= 5 && i < 6 + PEERS.length;
const line = (r: string[]) =>
  `| ${r.map((c, i) => (numeric(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ")} |`;
console.log(
  `${machine.cores} cores, Deno ${machine.deno} (V8 ${machine.v8}), load average (1 min) ${loadAtStart} at the start, ${machine.loadAverage.end} at the end`,
);
const rule = `|${widths.map((w, i) => (numeric(i) ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2))).join("|")}|`;
console.log(line(head));
console.log(rule);
for (const r of table.slice(1)) console.log(line(r));
if (opts.docs) {
  const cpu = await cpuModel(), on = cpu ? `${cpu}, ` : "", day = machine.date.slice(0, 10);
  await rewriteDocs(opts.docs, "compare", [
    `Measured ${day} on ${on}${machine.cores} cores, Deno ${machine.deno}; load average (1 min) ` +
    `${loadAtStart} at the start, ${machine.loadAverage.end} at the end; ${SECONDS} s x ${REPS} runs per row, median:`,
    "",
    line(head),
    rule,
    ...table.slice(1).map(line),
  ]);
}
if (opts.json) {
  await Deno.writeTextFile(opts.json, JSON.stringify({ machine, seconds: SECONDS, reps: REPS, rows }, null, 2) + "\n");
  console.error(`Wrote ${opts.json}`);
}
