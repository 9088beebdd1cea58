/**
 * Every built-in layer against finite differences (float64):
 * - backward: dE/dx and dE/dparam for E = sum r * y, r random;
 * - backward2: the diagonal Gauss-Newton terms from the explicit Jacobian,
 *   d2x_j = sum_i J_ij^2 d2y_i (plus, for a layer with exact curvature,
 *   sum_i dy_i d2y_i/dx_j^2 by second differences), and the same for params
 *   where each output unit uses a parameter through one connection at most.
 *   A parameter shared by several connections of one unit (subsample's
 *   coefficient) follows appendix C's per-connection rule instead, which
 *   tests/appendix_c_test.ts checks.
 */
import assert from "node:assert/strict";
import { Rng } from "../engine/rng.ts";
import type { LayerSpec } from "../engine/model.ts";
import { C3_TABLE, RBF_CODES } from "../presets/lenet5_data.ts";
import {
  assertAllClose,
  type Harness,
  harness,
  jacobian,
  numericGradient,
  randomFill,
  secondDiagonal,
} from "./_helpers.ts";

/**
 * Gradient tolerance: float64 central differences with eps 1e-6 have a
 * rounding error near 2e-16 |E| / 1e-6, so the absolute part grows with |E|.
 */
const GRAD_REL = 1e-6, GRAD_ABS = 1e-8;
/** Second-derivative tolerance: Jacobians by differences with eps 1e-5. */
const HESS_REL = 1e-5, HESS_ABS = 1e-7;

interface Case {
  name: string;
  spec: LayerSpec;
  input: number[];
  xRange?: [number, number];
  randomizeFixed?: boolean;
  /** Some output unit uses a parameter through several connections: its params' curvature is appendix C's. */
  sharedWithinUnit?: boolean;
}

const small = (rows: readonly (readonly number[])[]) => rows.map((r) => [...r]);

const CASES: Case[] = [
  { name: "conv2d", spec: { type: "conv2d", maps: 3, kernel: 3 }, input: [2, 6, 5] },
  {
    name: "conv2d stride 2 padding 1",
    spec: { type: "conv2d", maps: 2, kernel: 3, stride: 2, padding: 1 },
    input: [2, 5, 6],
  },
  {
    name: "conv2d with connection table",
    spec: { type: "conv2d", maps: 4, kernel: 3, table: [[1, 0, 1, 1], [1, 1, 0, 1], [0, 1, 1, 0]] },
    input: [3, 5, 5],
  },
  {
    name: "conv2d with Table I (C3)",
    spec: { type: "conv2d", maps: 16, kernel: 2, table: small(C3_TABLE) },
    input: [6, 3, 3],
  },
  { name: "subsample", spec: { type: "subsample", size: 2 }, input: [3, 4, 6], sharedWithinUnit: true },
  { name: "avgpool", spec: { type: "avgpool", size: 2 }, input: [2, 4, 4] },
  { name: "avgpool overlapping", spec: { type: "avgpool", size: 3, stride: 1 }, input: [2, 4, 5] },
  { name: "maxpool", spec: { type: "maxpool", size: 2 }, input: [2, 4, 6] },
  { name: "squash", spec: { type: "squash" }, input: [3, 2, 2], xRange: [-3, 3] },
  { name: "tanh", spec: { type: "tanh" }, input: [7], xRange: [-3, 3] },
  { name: "relu", spec: { type: "relu" }, input: [2, 3, 3] },
  { name: "flatten", spec: { type: "flatten" }, input: [2, 2, 3] },
  { name: "full", spec: { type: "full", units: 5 }, input: [7] },
  { name: "rbf (fixed codes)", spec: { type: "rbf", codes: ["0110", "1001", "1111"] }, input: [4] },
  {
    name: "rbf (trainable centres)",
    spec: { type: "rbf", codes: [[0.1, -0.4, 0.3], [1, 1, -1]], trainable: true },
    input: [3],
    randomizeFixed: true,
  },
  { name: "rbf (LeNet-5 codes)", spec: { type: "rbf", codes: [...RBF_CODES] }, input: [84] },
];

function check(h: Harness, what: string, sharedWithinUnit = false) {
  const { layer, n, x } = h;
  const rng = new Rng(7);
  const r = randomFill(new Float64Array(n * layer.outSize), rng);
  const E = () => h.run().reduce((s, v, i) => s + v * r[i], 0);
  const gradAbs = GRAD_ABS + 1e-9 * h.run().reduce((s, v, i) => s + Math.abs(v * r[i]), 0);

  // --- gradients ---
  const dx = new Float64Array(x.length);
  const grads = layer.params.map((p, i) => new Float64Array(layer.specs[i].trainable ?? true ? p.length : 0));
  layer.plugin.backward(layer, x, h.run(), r, dx, grads, n);
  assertAllClose(dx, numericGradient(x, E), `${what}: dE/dx`, GRAD_REL, gradAbs);
  layer.params.forEach((p, i) => {
    if (grads[i].length === 0) return;
    assertAllClose(grads[i], numericGradient(p, E), `${what}: dE/d${layer.specs[i].name}`, GRAD_REL, gradAbs);
  });
  // Gradients accumulate: a second call adds the same amount again.
  const dx2 = dx.slice();
  const grads2 = grads.map((g) => g.slice());
  layer.plugin.backward(layer, x, h.run(), r, dx2, grads2, n);
  assertAllClose(dx2, dx.map((v) => 2 * v), `${what}: dx accumulates`, 1e-12, 0);
  grads2.forEach((g, i) => assertAllClose(g, grads[i].map((v) => 2 * v), `${what}: grads accumulate`, 1e-12, 0));

  // --- diagonal second derivatives from the explicit Jacobian ---
  const d2y = randomFill(new Float64Array(n * layer.outSize), rng, 0, 1);
  const d2x = new Float64Array(x.length);
  const hess = grads.map((g) => new Float64Array(g.length));
  layer.plugin.backward2(layer, x, h.run(), r, d2y, d2x, hess, n);
  const expectDiag = (v: Float64Array | Float32Array) => {
    const J = jacobian(v, h.run);
    const out = new Float64Array(v.length);
    for (let i = 0; i < J.length; i++) for (let j = 0; j < v.length; j++) out[j] += J[i][j] * J[i][j] * d2y[i];
    if (layer.plugin.exactCurvature) {
      const H = secondDiagonal(v, h.run);
      for (let i = 0; i < H.length; i++) for (let j = 0; j < v.length; j++) out[j] += r[i] * H[i][j];
    }
    return out;
  };
  assertAllClose(d2x, expectDiag(x), `${what}: d2E/dx2`, HESS_REL, HESS_ABS * (layer.plugin.exactCurvature ? 100 : 1));
  layer.params.forEach((p, i) => {
    if (hess[i].length === 0 || sharedWithinUnit) return;
    assertAllClose(
      hess[i],
      expectDiag(p as Float64Array),
      `${what}: d2E/d${layer.specs[i].name}2`,
      HESS_REL,
      HESS_ABS * (layer.plugin.exactCurvature ? 100 : 1),
    );
  });
  // A first layer gets dx = null: the parameter results must not change.
  const grads3 = grads.map((g) => new Float64Array(g.length));
  layer.plugin.backward(layer, x, h.run(), r, null, grads3, n);
  grads3.forEach((g, i) => assertAllClose(g, grads[i], `${what}: grads with dx = null`, 1e-12, 0));
}

for (const c of CASES) {
  Deno.test(`layer ${c.name}: gradients and Gauss-Newton diagonal match finite differences`, () => {
    const h = harness(c.spec, c.input, { n: 2, xRange: c.xRange, randomizeFixed: c.randomizeFixed });
    check(h, c.name, c.sharedWithinUnit);
  });
}

Deno.test("conv2d with a table: unconnected pairs own no weight and contribute nothing", () => {
  const table = [[1, 0], [0, 1], [1, 1]];
  const h = harness({ type: "conv2d", maps: 2, kernel: 2, table }, [3, 3, 3], { n: 1 });
  // 4 connected pairs x 2x2 weights.
  assert.equal(h.layer.params[0].length, 4 * 4);
  // Changing an input map that output map 0 does not see leaves map 0 unchanged.
  const before = h.run();
  for (let p = 0; p < 9; p++) h.x[9 + p] += 5; // input map 1: seen by output map 1 only
  const after = h.run();
  assert.deepEqual([...after.subarray(0, 4)], [...before.subarray(0, 4)]);
  assert.notDeepEqual([...after.subarray(4, 8)], [...before.subarray(4, 8)]);
});

Deno.test("squash: f(1) = 1 and f(-1) = -1 to 4 decimals, A = 1.7159, S = 2/3", () => {
  const h = harness({ type: "squash" }, [3], { n: 1 });
  h.x.set([1, -1, 0]);
  const y = h.run();
  assert.ok(Math.abs(y[0] - 1) < 1e-4 && Math.abs(y[1] + 1) < 1e-4 && y[2] === 0, `${[...y]}`);
});
