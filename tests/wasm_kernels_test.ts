/**
 * The WebAssembly SIMD kernels (engine/wasm/) against the reference: each
 * layer kernel on the wasm backend against the same layer run by its plugin
 * in float64, on shapes that reach every path of the kernels (C3's table,
 * batch 1, rows narrower than a SIMD block or not a multiple of it, vectors
 * whose length is not a multiple of 4); then whole models, the SDLM step
 * (bit-identical to the JS loop), determinism, the choice of backend, and
 * the committed module against its source.
 */
import assert from "node:assert/strict";
import { createRegistries, defaultRegistry } from "../builtins.ts";
import { squash, type SquashConfig } from "../layers/activations.ts";
import type { KernelBackend } from "../engine/kernels.ts";
import { buildModel, type GraphSpec, type LayerSpec } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import type { Floats, LayerPlugin } from "../engine/types.ts";
import { createWasmKernels, wasmKernelsProblem } from "../engine/wasm/backend.ts";
import { C3_TABLE } from "../presets/lenet5_data.ts";
import { PRESETS } from "../presets/presets.ts";
import { compare, randomFill } from "./_helpers.ts";
import { deno } from "./_task.ts";

const problem = wasmKernelsProblem();
const ignore = problem !== null;
if (ignore) console.warn(`wasm kernel tests skipped: ${problem}`);

/** |a - b| <= 1e-5 max|b| + 1e-5 |b| everywhere: float32 sums against float64 ones. */
function assertNear(actual: Floats, expected: Floats, what: string) {
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  const problem = compare(actual, expected, 1e-5, 1e-5 * scale + 1e-30);
  assert.equal(problem, null, `${what}: ${problem}`);
}

interface Case {
  spec: LayerSpec;
  input: number[];
  /** Whether the wasm backend has kernels for it (else the plugin's run, and the test checks that it says so). */
  wasm: boolean;
}

const CASES: Case[] = [
  { spec: { type: "conv2d", maps: 6, kernel: 5 }, input: [1, 32, 32], wasm: true }, // C1
  { spec: { type: "conv2d", maps: 16, kernel: 5, table: C3_TABLE.map((r) => [...r]) }, input: [6, 14, 14], wasm: true },
  { spec: { type: "conv2d", maps: 16, kernel: 5 }, input: [6, 14, 14], wasm: true }, // modern C3
  { spec: { type: "conv2d", maps: 5, kernel: 5 }, input: [3, 9, 7], wasm: true }, // rows of 3: the scalar path
  { spec: { type: "conv2d", maps: 3, kernel: 5 }, input: [2, 11, 13], wasm: true }, // rows of 9: an overlapping block
  { spec: { type: "conv2d", maps: 120, kernel: 5 }, input: [16, 5, 5], wasm: true }, // C5: a dense product
  { spec: { type: "conv2d", maps: 7, kernel: 5 }, input: [3, 5, 5], wasm: true }, // dense, 75 inputs
  { spec: { type: "conv2d", maps: 4, kernel: 3 }, input: [2, 7, 7], wasm: false },
  { spec: { type: "full", units: 84 }, input: [120], wasm: true }, // F6
  { spec: { type: "full", units: 7 }, input: [13], wasm: true },
  { spec: { type: "squash" }, input: [6, 28, 28], wasm: true },
  { spec: { type: "squash", A: 2, S: 0.5 }, input: [3, 5, 7], wasm: true },
  { spec: { type: "tanh" }, input: [11], wasm: true },
  { spec: { type: "relu" }, input: [3, 5, 7], wasm: true },
  { spec: { type: "subsample" }, input: [6, 28, 28], wasm: true }, // S2
  { spec: { type: "subsample" }, input: [3, 10, 6], wasm: true }, // rows of 3 outputs
  { spec: { type: "subsample", size: 3 }, input: [2, 9, 9], wasm: false },
  { spec: { type: "maxpool" }, input: [6, 28, 28], wasm: true },
  { spec: { type: "maxpool" }, input: [2, 6, 10], wasm: true }, // rows of 5 outputs
  { spec: { type: "avgpool" }, input: [3, 6, 6], wasm: false },
];

function label(c: Case): string {
  const { type, ...rest } = c.spec;
  const opts = Object.keys(rest).filter((k) => k !== "table").map((k) => `${k} ${JSON.stringify(rest[k])}`);
  return `${type}${c.spec.table ? " with C3's table" : ""}${
    opts.length ? ` (${opts.join(", ")})` : ""
  } on [${c.input}]`;
}

for (const c of CASES) {
  Deno.test({
    name: `wasm kernels: ${label(c)}, batches 1 and 3, against the plugin in float64`,
    ignore,
    fn() {
      const graph: GraphSpec = { input: c.input, layers: [c.spec], loss: { type: "softmax-cross-entropy" } };
      const backend: KernelBackend = createWasmKernels();
      const model = buildModel(graph, { registry: defaultRegistry, seed: 5, kernels: backend });
      const layer = model.layers[0];
      const kernel = defaultRegistry.kernels.get(layer.type, backend.name);
      const compute = kernel?.plugin === layer.plugin ? kernel.kernelFunc(layer, backend) : undefined;
      assert.equal(compute !== undefined, c.wasm, c.wasm ? "expected wasm kernels" : "expected the plugin's kernels");
      if (!compute) return;
      const ref = buildModel(graph, { registry: defaultRegistry, dtype: "float64" });
      ref.params.set(model.params);
      const rl = ref.layers[0], plugin = rl.plugin;
      const rng = new Rng(11);
      for (const n of [1, 3]) {
        const x = randomFill(backend.floats(n * layer.inSize), rng, -1.5, 1.5);
        const dy = randomFill(backend.floats(n * layer.outSize), rng);
        const d2y = randomFill(backend.floats(n * layer.outSize), rng, 0, 1);
        const y = backend.floats(n * layer.outSize), dx = backend.floats(n * layer.inSize);
        const d2x = backend.floats(n * layer.inSize);
        compute.forward!(layer, x, y, n);
        model.zeroGrads();
        compute.backward!(layer, x, y, dy, dx, layer.grads, n);
        model.zeroHess();
        compute.backward2!(layer, x, y, dy, d2y, d2x, layer.hess, n);

        const x64 = Float64Array.from(x), y64 = new Float64Array(y.length);
        const dx64 = new Float64Array(dx.length), d2x64 = new Float64Array(d2x.length);
        plugin.forward(rl, x64, y64, n);
        ref.zeroGrads();
        plugin.backward(rl, x64, y64, Float64Array.from(dy), dx64, rl.grads, n);
        ref.zeroHess();
        plugin.backward2(rl, x64, y64, Float64Array.from(dy), Float64Array.from(d2y), d2x64, rl.hess, n);

        assertNear(y, y64, `batch ${n}: y`);
        assertNear(dx, dx64, `batch ${n}: dx`);
        assertNear(d2x, d2x64, `batch ${n}: d2x`);
        layer.grads.forEach((g, i) => assertNear(g, rl.grads[i], `batch ${n}: grads[${i}]`));
        layer.hess.forEach((h, i) => assertNear(h, rl.hess[i], `batch ${n}: hess[${i}]`));
        assert.ok(y.every(Number.isFinite) && dx.every(Number.isFinite), `batch ${n}: finite`);
      }
    },
  });
}

Deno.test({
  name: "wasm kernels: both presets, batches 1 and 5, forward, gradients and curvature as the JS kernels compute them",
  ignore,
  fn() {
    for (const name of ["lenet5", "lenet5-modern"] as const) {
      for (const n of [1, 5]) {
        const js = buildModel(PRESETS[name].graph, { registry: defaultRegistry, seed: 3, kernels: "js" });
        const wa = buildModel(PRESETS[name].graph, { registry: defaultRegistry, seed: 3, kernels: "wasm" });
        assert.equal(wa.kernels, "wasm");
        assert.deepEqual(wa.params, js.params, "the same init");
        const x = randomFill(new Float32Array(n * js.inputSize), new Rng(n), -0.1, 1.175);
        const labels = Array.from({ length: n }, (_, i) => (i * 7) % 10);
        assertNear(wa.forward(x, n), js.forward(x, n), `${name} batch ${n}: scores`);
        js.zeroGrads();
        wa.zeroGrads();
        assert.ok(Math.abs(wa.backward(labels) - js.backward(labels)) < 1e-4, "loss");
        assertNear(wa.grads, js.grads, `${name} batch ${n}: gradients`);
        js.zeroHess();
        wa.zeroHess();
        js.backward2(labels);
        wa.backward2(labels);
        assertNear(wa.hess, js.hess, `${name} batch ${n}: curvature`);
      }
    }
  },
});

Deno.test({
  name: "wasm kernels: the SDLM step is bit-identical to the JS loop, and training is deterministic",
  ignore,
  fn() {
    const p = PRESETS.lenet5;
    const run = (kernels: "js" | "wasm", steps: number) => {
      const model = buildModel(p.graph, { registry: defaultRegistry, seed: 2, kernels });
      const rng = new Rng(4);
      const x = randomFill(new Float32Array(64 * model.inputSize), rng, -0.1, 1.175);
      const labels = Int32Array.from({ length: 64 }, () => rng.int(10));
      const opt = createOptimizer(p.optimizer, model, defaultRegistry);
      estimateCurvature(model, x, labels, 64);
      for (let s = 0; s < steps; s++) {
        const i = s % 64;
        trainStep(model, opt, x.subarray(i * model.inputSize, (i + 1) * model.inputSize), labels.subarray(i, i + 1), 1);
      }
      return model;
    };
    // One step from the same weights, gradients and curvature: the update itself matches bit for bit.
    const a = run("wasm", 0), b = run("js", 0);
    b.params.set(a.params);
    b.hess.set(a.hess);
    const grads = randomFill(new Float32Array(a.trainableCount), new Rng(9), -3, 3);
    for (const m of [a, b]) {
      m.grads.set(grads);
      createOptimizer(p.optimizer, m, defaultRegistry).step(m);
    }
    assert.ok(a.vectors !== undefined && b.vectors === undefined);
    assert.deepEqual(
      new Uint32Array(a.params.buffer, a.params.byteOffset, a.params.length),
      new Uint32Array(b.params.buffer, b.params.byteOffset, b.params.length),
    );
    // The same seed, the same weights after 200 one-pattern updates.
    const first = run("wasm", 200), second = run("wasm", 200);
    assert.deepEqual(first.params, second.params);
    assert.notDeepEqual(first.params, run("wasm", 0).params, "the updates changed the weights");
  },
});

Deno.test({
  name:
    "wasm kernels: auto (the default) picks wasm for float32, js for float64 and for given storage; bad choices are named",
  ignore,
  fn() {
    const g = PRESETS.lenet5.graph, registry = defaultRegistry;
    assert.equal(buildModel(g, { registry, kernels: "auto" }).kernels, "wasm");
    assert.equal(buildModel(g, { registry, kernels: "auto", dtype: "float64" }).kernels, "js");
    assert.equal(buildModel(g, { registry }).kernels, "wasm", "auto is the default");
    const params = new Float32Array(new SharedArrayBuffer(buildModel(g, { registry }).params.length * 4));
    assert.equal(buildModel(g, { registry, kernels: "auto", storage: { params } }).kernels, "js");
    assert.throws(
      () => buildModel(g, { registry, kernels: "wasm", dtype: "float64" }),
      /wasm kernels are float32 only/,
    );
    assert.throws(
      () => buildModel(g, { registry, kernels: "gpu" as "js" }),
      /option kernels must be one of auto, wasm, js, got "gpu"/,
    );
  },
});

Deno.test({
  name: "wasm kernels: the committed module is what its source builds to (deno task build:wasm --check)",
  ignore,
  async fn() {
    const root = new URL("..", import.meta.url).pathname;
    const permissions = ["--allow-read", "--allow-write", "--allow-run", "--allow-env"];
    const out = await deno(["run", ...permissions, "cli/build_wasm.ts", "--check"], { cwd: root });
    const text = out.stdout + out.stderr;
    assert.ok(out.code === 0, text);
    assert.match(text, /matches engine\/wasm\/assembly\/kernels\.ts/);
  },
});

Deno.test({
  name: "wasm kernels: a plugin of one's own under a built-in's name keeps its own kernels",
  ignore,
  fn() {
    const registry = createRegistries();
    const doubling: LayerPlugin<SquashConfig> = {
      ...squash,
      forward(layer, x, y, n) {
        for (let i = 0; i < n * layer.inSize; i++) y[i] = 2 * x[i];
      },
    };
    registry.layers.register(doubling as LayerPlugin, { replace: true });
    const graph: GraphSpec = { input: [4], layers: [{ type: "squash" }], loss: { type: "softmax-cross-entropy" } };
    const model = buildModel(graph, { registry, kernels: "wasm" });
    assert.equal(model.kernels, "wasm");
    assert.deepEqual(Array.from(model.forward(new Float32Array([1, 2, 3, 4]), 1)), [2, 4, 6, 8]);
  },
});
