/**
 * The fast kernels against the plain reference kernels they replace: in
 * float64 to summation-order rounding, and in float32 (the engine's type) to
 * float32 rounding against the float64 reference.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type BuiltLayer, type LayerSpec } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { createOptimizer, estimateCurvature, trainStep } from "../engine/train.ts";
import type { Floats, Layer, LayerPlugin } from "../engine/types.ts";
import { type Activation, elementwise, referenceKernels } from "../layers/_elementwise.ts";
import { RELU, SQUASH, TANH, tanh32 } from "../layers/activations.ts";
import {
  type Conv2dConfig,
  kernelsFor,
  referenceBackward,
  referenceBackward2,
  referenceForward,
} from "../layers/conv2d.ts";
import { type FullConfig, fullReference } from "../layers/full.ts";
import { C3_TABLE } from "../presets/lenet5_data.ts";
import { PRESETS } from "../presets/presets.ts";
import { assertAllClose, randomFill } from "./_helpers.ts";

type Kernels = Pick<LayerPlugin, "forward" | "backward" | "backward2">;

/** One layer built alone in `dtype`, with random parameters. */
function layerOf(spec: LayerSpec, input: number[], dtype: "float32" | "float64"): BuiltLayer {
  const graph = { input, layers: [spec], loss: { type: "mse-rbf" } };
  const model = buildModel(graph, { registry: defaultRegistry, dtype, seed: 3 });
  const layer = model.layers[0];
  const rng = new Rng(11);
  layer.params.forEach((p, i) => (layer.specs[i].trainable ?? true) && randomFill(p, rng, -0.8, 0.8));
  return layer;
}

/**
 * Runs forward, backward (with dx and without) and backward2 of `fast` and
 * `ref` on the same random data; float32 runs `fast` in float32 and `ref` in
 * float64 on the same values.
 */
function compareKernels(
  what: string,
  spec: LayerSpec,
  input: number[],
  ref: Kernels,
  n: number,
  dtype: "float32" | "float64",
) {
  const fastLayer = layerOf(spec, input, dtype), refLayer = layerOf(spec, input, "float64");
  refLayer.params.forEach((p, i) => p.set(fastLayer.params[i]));
  const F = dtype === "float32" ? Float32Array : Float64Array;
  const [rel, abs] = dtype === "float32" ? [1e-5, 1e-5] : [1e-12, 1e-12];
  const rng = new Rng(5);
  const x = randomFill(new F(n * fastLayer.inSize), rng, -1.5, 1.5), x64 = Float64Array.from(x);
  const y = new F(n * fastLayer.outSize), yRef = new Float64Array(y.length);
  fastLayer.plugin.forward(fastLayer, x, y, n);
  ref.forward(refLayer, x64, yRef, n);
  assertAllClose(y, yRef, `${what} (${dtype}): forward`, rel, abs);
  const dy = randomFill(new F(y.length), rng), d2y = randomFill(new F(y.length), rng, 0, 1);
  const dy64 = Float64Array.from(dy), d2y64 = Float64Array.from(d2y), y64 = Float64Array.from(y);
  const fresh = (C: new (k: number) => Floats, l: BuiltLayer) => ({
    dx: new C(x.length),
    g: l.grads.map((g) => new C(g.length)),
  });
  for (const second of [false, true]) {
    for (const withDx of [true, false]) {
      const a = fresh(F, fastLayer), b = fresh(Float64Array, refLayer);
      const label = `${what} (${dtype}): ${second ? "backward2" : "backward"}${withDx ? "" : " without dx"}`;
      if (second) {
        fastLayer.plugin.backward2(fastLayer, x, y, dy, d2y, withDx ? a.dx : null, a.g, n);
        ref.backward2(refLayer, x64, y64, dy64, d2y64, withDx ? b.dx : null, b.g, n);
      } else {
        fastLayer.plugin.backward(fastLayer, x, y, dy, withDx ? a.dx : null, a.g, n);
        ref.backward(refLayer, x64, y64, dy64, withDx ? b.dx : null, b.g, n);
      }
      assertAllClose(a.dx, b.dx, `${label}: dx`, rel, abs);
      a.g.forEach((g, i) => assertAllClose(g, b.g[i], `${label}: param ${i}`, rel, abs));
    }
  }
}

const convReference: Kernels = {
  forward: (l, x, y, n) => referenceForward(l as Layer<Conv2dConfig>, x, y, n),
  backward: (l, x, y, dy, dx, g, n) => referenceBackward(l as Layer<Conv2dConfig>, x, y, dy, dx, g, n),
  backward2: (l, x, y, dy, d2y, d2x, h, n) => referenceBackward2(l as Layer<Conv2dConfig>, x, y, dy, d2y, d2x, h, n),
};

const table = (rows: readonly (readonly number[])[]) => rows.map((r) => [...r]);

const CONV_CASES: [string, LayerSpec, number[], string][] = [
  ["C1", { type: "conv2d", maps: 6, kernel: 5 }, [1, 32, 32], "5x5"],
  ["C3 (Table I)", { type: "conv2d", maps: 16, kernel: 5, table: table(C3_TABLE) }, [6, 14, 14], "5x5"],
  ["C3 full, not square", { type: "conv2d", maps: 3, kernel: 5 }, [2, 7, 9], "5x5"],
  ["C5", { type: "conv2d", maps: 120, kernel: 5 }, [16, 5, 5], "dense"],
  ["whole input with a table", { type: "conv2d", maps: 2, kernel: 3, table: [[1, 0], [1, 1]] }, [2, 3, 3], "stride1"],
  ["3x3", { type: "conv2d", maps: 4, kernel: 3 }, [2, 6, 7], "stride1"],
  ["stride 2", { type: "conv2d", maps: 2, kernel: 5, stride: 2 }, [1, 9, 9], "reference"],
];

for (const [name, spec, input, kernels] of CONV_CASES) {
  Deno.test(`conv2d ${name}: ${kernels} kernels equal the reference kernels (float64 and float32)`, () => {
    assert.equal(kernelsFor(layerOf(spec, input, "float32") as Layer<Conv2dConfig>), kernels);
    for (const n of [1, 3]) {
      compareKernels(`${name}, batch ${n}`, spec, input, convReference, n, "float64");
      compareKernels(`${name}, batch ${n}`, spec, input, convReference, n, "float32");
    }
  });
}

Deno.test("full: the dense kernels equal the reference loops (batch 1 and 5, 4 units and a remainder)", () => {
  const ref = fullReference as unknown as Kernels;
  for (const units of [8, 7, 3]) {
    for (const n of [1, 5]) {
      for (const dtype of ["float64", "float32"] as const) {
        const spec = { type: "full", units } satisfies LayerSpec & FullConfig;
        compareKernels(`full ${units}, batch ${n}`, spec, [13], ref, n, dtype);
      }
    }
  }
});

Deno.test("activations: the built-in kernels equal the loops over f and df", () => {
  for (const def of [SQUASH, TANH, RELU] as Activation<unknown>[]) {
    const ref = elementwise({ ...def, kernels: undefined });
    for (const dtype of ["float64", "float32"] as const) {
      compareKernels(def.type, { type: def.type }, [3, 7, 5], ref, 2, dtype);
    }
  }
});

Deno.test("referenceKernels: loops over f and df", () => {
  const k = referenceKernels<null>({
    type: "double",
    description: "",
    configure: () => null,
    f: (_c, x) => 2 * x,
    df: () => 2,
  });
  const y = new Float64Array(2), dx = new Float64Array([1, 1]);
  k.forward(null, new Float64Array([1, -3]), y, 2);
  k.backward(null, y, y, new Float64Array([1, 2]), dx, 2);
  assert.deepEqual([...y, ...dx], [2, -6, 3, 5]);
});

Deno.test("tanh32: within 1.3e-7 relative of Math.tanh everywhere, odd, +-1 far out", () => {
  let worst = 0;
  for (let v = -12; v <= 12; v += 1 / 1024) {
    const t = Math.tanh(v);
    if (t !== 0) worst = Math.max(worst, Math.abs(tanh32(v) - t) / Math.abs(t));
    assert.equal(tanh32(-v), -tanh32(v));
  }
  for (const v of [1e-30, 1e-8, 1e-3]) worst = Math.max(worst, Math.abs(tanh32(v) - Math.tanh(v)) / Math.tanh(v));
  assert.ok(worst < 1.3e-7, `worst relative error ${worst}`);
  assert.equal(Math.fround(tanh32(50)), 1);
  assert.equal(Math.fround(tanh32(-Infinity)), -1);
  assert.ok(Number.isNaN(tanh32(NaN)));
});

Deno.test("sdlm: the step sizes kept in the optimizer's work follow eta, and a new h_kk after forget(), bit for bit", () => {
  const run = (kept: boolean) => {
    const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 4 });
    const rng = new Rng(2);
    const x = randomFill(new Float32Array(4 * model.inputSize), rng, -0.1, 1.175);
    const labels = Uint8Array.from([1, 2, 3, 4]);
    const opt = createOptimizer(PRESETS.lenet5.optimizer, model, defaultRegistry);
    const step = (s: number, lr: number) => {
      if (kept) {
        return trainStep(model, opt, x.subarray(s * 1024, (s + 1) * 1024), labels.subarray(s, s + 1), 1, lr);
      }
      // A fresh work each time: the rule computes the step sizes for this step alone.
      model.zeroGrads();
      model.forward(x.subarray(s * 1024, (s + 1) * 1024), 1);
      model.backward(labels.subarray(s, s + 1));
      opt.plugin.step(opt.config, opt.state, {
        params: model.params.subarray(0, model.trainableCount),
        grads: model.grads,
        hess: model.hess,
        lr,
        work: {},
      });
    };
    estimateCurvature(model, x, labels, 2);
    step(0, 1e-3);
    step(1, 1e-3);
    step(2, 5e-4); // new eta
    estimateCurvature(model, x.subarray(2048), labels.subarray(2), 2); // new curvature
    opt.forget();
    step(3, 5e-4);
    model.hess.fill(0.5);
    opt.forget();
    step(0, 5e-4);
    return new Uint8Array(model.params.buffer.slice(0));
  };
  assert.deepEqual(run(true), run(false));
});

Deno.test("maxpool: branch-free windows pick the first maximum, as a plain scan does (ties included)", () => {
  for (const [size, stride] of [[2, 2], [3, 1], [2, 1]]) {
    const layer = layerOf({ type: "maxpool", size, stride }, [3, 8, 8], "float32");
    const [maps, h, w] = layer.inShape, [, ho, wo] = layer.outShape;
    const n = 2, rng = new Rng(9);
    // Values in {-1, 0, 1}: many ties.
    const x = Float32Array.from({ length: n * layer.inSize }, () => rng.int(3) - 1);
    const y = new Float32Array(n * layer.outSize), dy = randomFill(new Float32Array(y.length), rng);
    const dx = new Float32Array(x.length), expectY = new Float32Array(y.length), expectDx = new Float32Array(x.length);
    for (let p = 0; p < n * maps; p++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          let best = -1;
          for (let ky = 0; ky < size; ky++) {
            for (let kx = 0; kx < size; kx++) {
              const i = p * h * w + (oy * stride + ky) * w + ox * stride + kx;
              if (best < 0 || x[i] > x[best]) best = i;
            }
          }
          const o = p * ho * wo + oy * wo + ox;
          expectY[o] = x[best];
          expectDx[best] += dy[o];
        }
      }
    }
    layer.plugin.forward(layer, x, y, n);
    layer.plugin.backward(layer, x, y, dy, dx, layer.grads, n);
    assert.deepEqual(y, expectY, `size ${size} stride ${stride}: forward`);
    assert.deepEqual(dx, expectDx, `size ${size} stride ${stride}: backward`);
  }
});
