/**
 * SDLM's curvature against appendix C of the paper, written out on its own.
 *
 * A weighted-sum layer is listed here as its connections: output unit i adds
 * w_k x_j for every connection (i, j) of the set V_k that shares weight k (a
 * bias is a connection from a unit fixed at 1). Appendix C's Gauss-Newton
 * recursion on that list:
 *
 * - eq. 24: d2E/da_i^2 = f'(a_i)^2 d2E/dx_i^2 through a squashing function;
 * - eq. 25: d2E/dx_j^2 = sum over connections (i, j) of w_ij^2 d2E/da_i^2;
 * - eqs. 26-27: d2E/dw_k^2 = sum over (i, j) in V_k of x_j^2 d2E/da_i^2, the
 *   terms between two connections that share a weight dropped.
 *
 * The RBF output is no weighted sum; its second derivative is written out in
 * full: y_i = sum_j (x_j - c_ij)^2 gives d2E/dx_j^2 = sum_i (2 (x_j - c_ij))^2
 * d2E/dy_i^2 + 2 dE/dy_i. The MAP loss E = y_D + log(e^-j + sum_i e^-y_i)
 * gives dE/dy_i = [i = D] - p_i and d2E/dy_i^2 = p_i (1 - p_i), p_i =
 * e^-y_i / (e^-j + sum e^-y).
 *
 * The connection lists are built from the layer specs and the documented
 * parameter layouts only (conv2d: by output map, then connected input map,
 * then kH x kW; full: units x inputs; then the biases). The reference forward
 * on them must equal the engine's before any curvature is compared. The last
 * test checks every parameter tensor of the whole lenet5 preset against
 * central differences of the loss, in float64.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { preprocess } from "../data/preprocess.ts";
import { buildModel, type BuiltLayer, type LayerSpec, type Model } from "../engine/model.ts";
import { modelFromJSON } from "../engine/model_json.ts";
import { Rng } from "../engine/rng.ts";
import type { Floats } from "../engine/types.ts";
import { createWasmKernels } from "../engine/wasm/backend.ts";
import { C3_TABLE } from "../presets/lenet5_data.ts";
import { PRESETS } from "../presets/presets.ts";
import { assertAllClose, harness, randomFill } from "./_helpers.ts";

/** Connection c: output unit `out[c]` adds `w[param[c]] * x[input[c]]` (input -1: the bias unit, x = 1). */
interface Connections {
  readonly out: number[];
  readonly input: number[];
  readonly param: number[];
  readonly inputs: number;
  readonly outputs: number;
  readonly params: number;
}

function list(inputs: number, outputs: number, params: number) {
  const c = { out: [] as number[], input: [] as number[], param: [] as number[], inputs, outputs, params };
  const add = (
    out: number,
    input: number,
    param: number,
  ) => (c.out.push(out), c.input.push(input), c.param.push(param));
  return { c, add };
}

/** A convolution's connections; a table row per input map, a 0/1 column per output map (null: all connected). */
function convConnections(
  inShape: readonly number[],
  spec: { maps: number; kernel: number; stride?: number; padding?: number; table?: readonly (readonly number[])[] },
): Connections {
  const [inMaps, h, w] = inShape, k = spec.kernel, s = spec.stride ?? 1, p = spec.padding ?? 0;
  const ho = Math.floor((h + 2 * p - k) / s) + 1, wo = Math.floor((w + 2 * p - k) / s) + 1;
  const pairs: [number, number][] = []; // [output map, input map], by output map then input map
  for (let o = 0; o < spec.maps; o++) {
    for (let i = 0; i < inMaps; i++) if (!spec.table || spec.table[i][o] === 1) pairs.push([o, i]);
  }
  const weights = pairs.length * k * k;
  const { c, add } = list(inMaps * h * w, spec.maps * ho * wo, weights + spec.maps);
  pairs.forEach(([o, i], e) => {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const y = oy * s + ky - p, x = ox * s + kx - p;
            if (y < 0 || y >= h || x < 0 || x >= w) continue;
            add((o * ho + oy) * wo + ox, (i * h + y) * w + x, e * k * k + ky * k + kx);
          }
        }
      }
    }
  });
  for (let o = 0; o < spec.maps; o++) for (let u = 0; u < ho * wo; u++) add(o * ho * wo + u, -1, weights + o);
  return c;
}

/** Trainable subsampling: each output unit of map m adds coef[m] x each input of its block, plus bias[m]. */
function subsampleConnections(inShape: readonly number[], size: number): Connections {
  const [maps, h, w] = inShape, ho = Math.floor(h / size), wo = Math.floor(w / size);
  const { c, add } = list(maps * h * w, maps * ho * wo, 2 * maps);
  for (let m = 0; m < maps; m++) {
    for (let oy = 0; oy < ho; oy++) {
      for (let ox = 0; ox < wo; ox++) {
        const out = (m * ho + oy) * wo + ox;
        for (let ky = 0; ky < size; ky++) {
          for (let kx = 0; kx < size; kx++) add(out, (m * h + oy * size + ky) * w + ox * size + kx, m);
        }
        add(out, -1, maps + m);
      }
    }
  }
  return c;
}

/** A full layer: unit u adds weight[u][j] x_j, plus bias[u]. */
function fullConnections(inputs: number, units: number): Connections {
  const { c, add } = list(inputs, units, units * inputs + units);
  for (let u = 0; u < units; u++) {
    for (let j = 0; j < inputs; j++) add(u, j, u * inputs + j);
    add(u, -1, units * inputs + u);
  }
  return c;
}

const xOf = (x: ArrayLike<number>, j: number) => (j < 0 ? 1 : x[j]);

/** a = sum over connections of w x, for one pattern. */
function weightedSums(c: Connections, w: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const a = new Float64Array(c.outputs);
  for (let e = 0; e < c.out.length; e++) a[c.out[e]] += w[c.param[e]] * xOf(x, c.input[e]);
  return a;
}

/** Eqs. 25-27 for one pattern: adds d2E/dx_j^2 into d2x (if given) and d2E/dw_k^2 into h. */
function appendixC(
  c: Connections,
  w: ArrayLike<number>,
  x: ArrayLike<number>,
  d2a: ArrayLike<number>,
  d2x: Float64Array | null,
  h: Float64Array,
): void {
  for (let e = 0; e < c.out.length; e++) {
    const j = c.input[e], k = c.param[e], g = d2a[c.out[e]];
    h[k] += xOf(x, j) * xOf(x, j) * g;
    if (d2x && j >= 0) d2x[j] += w[k] * w[k] * g;
  }
}

/** A layer's parameters (or their curvature) as one vector: its tensors one after the other. */
const joined = (tensors: readonly Floats[]) => Float64Array.from(tensors.flatMap((t) => [...t]));

/** The connection list of a weighted-sum layer of the engine, from its spec and input shape. */
function connectionsOf(l: BuiltLayer): Connections {
  const config = l.config as Record<string, unknown>;
  if (l.plugin.type === "conv2d") {
    return convConnections(l.inShape, config as unknown as Parameters<typeof convConnections>[1]);
  }
  if (l.plugin.type === "subsample") return subsampleConnections(l.inShape, config.size as number);
  if (l.plugin.type === "full") return fullConnections(l.inSize, config.units as number);
  throw new Error(`no connection list for ${l.plugin.type}`);
}

/** One weighted-sum layer alone: the engine's backward2 against eqs. 25-27 on its connection list. */
function checkLayer(spec: LayerSpec, input: number[]) {
  const h = harness(spec, input, { n: 3 });
  const { layer, n, x } = h;
  const c = connectionsOf(layer);
  const w = joined(layer.params);
  assert.equal(c.params, w.length, "the connection list covers every parameter");
  const y = h.run();
  for (let b = 0; b < n; b++) {
    const xb = x.subarray(b * c.inputs, (b + 1) * c.inputs);
    assertAllClose(y.subarray(b * c.outputs, (b + 1) * c.outputs), weightedSums(c, w, xb), "forward", 1e-12, 1e-12);
  }
  const d2y = randomFill(new Float64Array(n * layer.outSize), new Rng(3), 0, 1);
  const d2x = new Float64Array(x.length), hess = layer.params.map((p) => new Float64Array(p.length));
  layer.plugin.backward2(layer, x, y, new Float64Array(y.length), d2y, d2x, hess, n);
  const refX = new Float64Array(x.length), refH = new Float64Array(w.length);
  for (let b = 0; b < n; b++) {
    const xb = x.subarray(b * c.inputs, (b + 1) * c.inputs), gb = d2y.subarray(b * c.outputs, (b + 1) * c.outputs);
    appendixC(c, w, xb, gb, refX.subarray(b * c.inputs, (b + 1) * c.inputs), refH);
  }
  assertAllClose(d2x, refX, "d2E/dx2 (eq. 25)", 1e-12, 1e-14);
  assertAllClose(joined(hess), refH, "d2E/dw2 (eqs. 26-27)", 1e-12, 1e-14);
}

Deno.test("appendix C, subsampling: the shared coefficient's h_kk sums x_j^2 over its connections", () => {
  checkLayer({ type: "subsample", size: 2 }, [3, 4, 6]);
  // The rule that keeps the cross terms, (sum of the block's x)^2, is not the paper's: the two differ here.
  const h = harness({ type: "subsample", size: 2 }, [1, 2, 2], { n: 1 });
  h.x.set([0.5, 0.5, 0.5, 0.5]);
  const hess = h.layer.params.map((p) => new Float64Array(p.length));
  h.layer.plugin.backward2(h.layer, h.x, h.run(), new Float64Array(1), new Float64Array([1]), null, hess, 1);
  assert.equal(hess[0][0], 4 * 0.25, "sum of x^2 = 1, not (sum of x)^2 = 4");
});

Deno.test("appendix C, convolution with a connection table, with stride and padding", () => {
  checkLayer({ type: "conv2d", maps: 4, kernel: 3, table: [[1, 0, 1, 1], [1, 1, 0, 1], [0, 1, 1, 0]] }, [3, 5, 5]);
  checkLayer({ type: "conv2d", maps: 16, kernel: 2, table: C3_TABLE.map((r) => [...r]) }, [6, 3, 3]);
  checkLayer({ type: "conv2d", maps: 2, kernel: 3, stride: 2, padding: 1 }, [2, 5, 6]);
});

Deno.test("appendix C, full layer", () => {
  checkLayer({ type: "full", units: 5 }, [7]);
});

/** The squashing function of the preset's squash layers, f(a) = A tanh(S a), and its derivative. */
const A = 1.7159, S = 2 / 3;
const squash = (a: number) => A * Math.tanh(S * a);
const squashSlope = (a: number) => A * S * (1 - Math.tanh(S * a) ** 2);

/**
 * Appendix C's recursion over a whole LeNet-5 for `n` patterns, computed from the connection lists: the curvature of
 * every trainable parameter, layer by layer (the batch mean, as the engine's backward2), and the forward's scores.
 */
function lenet5Reference(model: Model, x: Float64Array, labels: number[], j: number) {
  const n = labels.length;
  const layers = model.layers;
  const hess = layers.map((l) => new Float64Array(l.params.reduce((s, p) => s + p.length, 0)));
  const scores: number[][] = [];
  for (let b = 0; b < n; b++) {
    // Forward: each layer's input, and the weighted sums before each squash.
    const inputs: Float64Array[] = [];
    let v: Float64Array = x.slice(b * model.inputSize, (b + 1) * model.inputSize);
    for (const l of layers) {
      inputs.push(v);
      if (l.plugin.type === "squash") v = v.map(squash);
      else if (l.plugin.type === "flatten") v = v.slice();
      else if (l.plugin.type === "rbf") {
        const codes = l.params[0], m = l.inSize;
        v = Float64Array.from({ length: l.outSize }, (_, i) => {
          let s = 0;
          for (let q = 0; q < m; q++) s += (v[q] - codes[i * m + q]) ** 2;
          return s;
        });
      } else v = weightedSums(connectionsOf(l), joined(l.params), v);
    }
    scores.push([...v]);
    // The MAP loss's derivatives (batch mean), then the recursion down.
    const denom = Math.exp(-j) + v.reduce((s, y) => s + Math.exp(-y), 0);
    const p = v.map((y) => Math.exp(-y) / denom);
    const dy = p.map((pi, i) => ((i === labels[b] ? 1 : 0) - pi) / n);
    let d2: Float64Array = p.map((pi) => (pi * (1 - pi)) / n);
    for (let i = layers.length - 1; i >= 0; i--) {
      const l = layers[i], xin = inputs[i];
      if (l.plugin.type === "squash") d2 = d2.map((g, u) => squashSlope(xin[u]) ** 2 * g); // eq. 24
      else if (l.plugin.type === "flatten") d2 = d2.slice();
      else if (l.plugin.type === "rbf") {
        const codes = l.params[0], m = l.inSize;
        const below = new Float64Array(m);
        for (let c = 0; c < l.outSize; c++) {
          for (let q = 0; q < m; q++) below[q] += (2 * (xin[q] - codes[c * m + q])) ** 2 * d2[c] + 2 * dy[c];
        }
        d2 = below;
      } else {
        const below = new Float64Array(l.inSize);
        appendixC(connectionsOf(l), joined(l.params), xin, d2, below, hess[i]); // eqs. 25-27
        d2 = below;
      }
    }
  }
  return { hess, scores };
}

/** The first `n` test digits, preprocessed as for training, and their labels. */
async function digits(n: number) {
  const { test } = await loadMnist();
  const x = Float64Array.from(preprocess(test.images.subarray(0, n * 784), n, 28, 28));
  return { x, labels: [...test.labels.subarray(0, n)] };
}

/** The shipped lenet5 weights (trained: its squash units sit where training left them, some saturated). */
async function shippedParams(): Promise<Float64Array> {
  const file = JSON.parse(await Deno.readTextFile(new URL("../models/lenet5/model.json", import.meta.url)));
  return Float64Array.from(modelFromJSON(file, defaultRegistry).params);
}

Deno.test("appendix C over the whole lenet5 preset: backward2 on both kernel backends follows eqs. 24-27", async () => {
  const preset = PRESETS.lenet5;
  const j = preset.graph.loss.j as number;
  const { x, labels } = await digits(3);
  const trained = await shippedParams();
  for (const [what, params] of [["at the init", null], ["on the shipped model", trained]] as const) {
    const ref = buildModel(preset.graph, { registry: defaultRegistry, dtype: "float64", seed: 4 });
    if (params) ref.params.set(params);
    const { hess, scores } = lenet5Reference(ref, x, labels, j);
    const engines: [string, Model, number][] = [
      ["float64 js", ref, 1e-9],
      ["float32 js", buildModel(preset.graph, { registry: defaultRegistry, seed: 4, kernels: "js" }), 2e-3],
      [
        "float32 wasm",
        buildModel(preset.graph, { registry: defaultRegistry, seed: 4, kernels: createWasmKernels() }),
        2e-3,
      ],
    ];
    for (const [name, model, rel] of engines) {
      model.params.set(ref.params);
      const out = model.forward(model === ref ? x : Float32Array.from(x), labels.length);
      assertAllClose(out, scores.flat(), `${what}, ${name}: scores`, rel, 1e-9);
      model.zeroGrads();
      model.zeroHess();
      model.backward(labels);
      model.backward2(labels);
      let checked = 0;
      model.layers.forEach((l, i) => {
        if (l.trainable === 0) return;
        const largest = hess[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        assertAllClose(joined(l.hess), hess[i], `${what}, ${name}: ${l.name}'s h_kk`, rel, 1e-6 * largest);
        checked += l.trainable;
      });
      assert.equal(checked, model.trainableCount, "every trainable parameter checked");
    }
  }
});

Deno.test("lenet5 preset, float64: every parameter tensor's gradient against central differences of the loss", async () => {
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, dtype: "float64", seed: 4 });
  model.params.set(await shippedParams());
  const { x, labels } = await digits(2);
  const loss = () => (model.forward(x, labels.length), model.lossValue(labels));
  model.zeroGrads();
  loss();
  model.backward(labels);
  const rng = new Rng(8);
  let offset = 0, tensors = 0;
  for (const l of model.layers) {
    l.params.forEach((p, k) => {
      if (!(l.specs[k].trainable ?? true)) return;
      // 12 entries of each tensor at random, and its first and last.
      const at = [0, p.length - 1, ...Array.from({ length: 12 }, () => Math.floor(rng.uniform(0, p.length)))];
      for (const e of at) {
        const keep = p[e], eps = 1e-6;
        p[e] = keep + eps;
        const up = loss();
        p[e] = keep - eps;
        const down = loss();
        p[e] = keep;
        const numeric = (up - down) / (2 * eps), analytic = model.grads[offset + e];
        const tol = 1e-6 * Math.max(Math.abs(numeric), Math.abs(analytic)) + 1e-8;
        assert.ok(Math.abs(numeric - analytic) <= tol, `${l.name}.${l.specs[k].name}[${e}]: ${analytic} vs ${numeric}`);
      }
      offset += p.length;
      tensors++;
    });
  }
  assert.equal(offset, model.trainableCount, "the gradient vector is the trainable tensors one after the other");
  assert.equal(tensors, 12, "C1, S2, C3, S4, C5 and F6: a weight (or coefficient) and a bias each");
});
