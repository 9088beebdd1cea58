/**
 * Every loss against finite differences of its own `forward` (float64):
 * backward is the gradient, backward2 the diagonal of the Hessian with
 * respect to the scores. Plus the MAP criterion's formula (eq. 9) by hand.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { Rng } from "../engine/rng.ts";
import { assertAllClose, numericGradient, randomFill, secondDiagonal } from "./_helpers.ts";

const LOSSES = [
  { raw: { type: "map", j: 0.1 }, lo: 0, hi: 6 },
  { raw: { type: "map", j: 3 }, lo: 0, hi: 6 },
  { raw: { type: "mse-rbf" }, lo: 0, hi: 6 },
  { raw: { type: "softmax-cross-entropy" }, lo: -3, hi: 3 },
];

for (const { raw, lo, hi } of LOSSES) {
  Deno.test(`loss ${JSON.stringify(raw)}: gradient and Hessian diagonal match finite differences`, () => {
    const n = 3, k = 5;
    const plugin = defaultRegistry.losses.get(raw.type);
    const config = plugin.configure(raw, [k], { label: "loss" });
    const rng = new Rng(3);
    const scores = randomFill(new Float64Array(n * k), rng, lo, hi);
    const labels = [1, 4, 0];
    const E = () => plugin.forward(config, scores, labels, n, k);
    const scale = 0.5;

    const d = new Float64Array(n * k);
    plugin.backward(config, scores, labels, n, k, scale, d);
    assertAllClose(d, numericGradient(scores, E).map((v) => v * scale), "dE/dscores", 1e-6, 1e-9);

    const d2 = new Float64Array(n * k);
    plugin.backward2(config, scores, labels, n, k, scale, d2);
    const H = secondDiagonal(scores, () => new Float64Array([E()]), 1e-4)[0];
    assertAllClose(d2, H.map((v) => v * scale), "d2E/dscores2", 1e-5, 1e-7);
    assert.ok(d2.every((v) => v >= 0), "the diagonal is non-negative");

    // Probabilities sum to 1 and rank like the prediction rule.
    const p = new Float64Array(n * k);
    plugin.probabilities(config, scores, n, k, p);
    for (let b = 0; b < n; b++) {
      const row = [...p.subarray(b * k, (b + 1) * k)];
      assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-12);
      const s = [...scores.subarray(b * k, (b + 1) * k)];
      const best = raw.type === "softmax-cross-entropy" ? s.indexOf(Math.max(...s)) : s.indexOf(Math.min(...s));
      assert.equal(row.indexOf(Math.max(...row)), best);
    }
  });
}

Deno.test("map loss: equals eq. 9, y_D + log(exp(-j) + sum_i exp(-y_i)), also for large distances", () => {
  const plugin = defaultRegistry.losses.get("map");
  const j = 0.7;
  const config = plugin.configure({ type: "map", j }, [3], { label: "loss" });
  const y = new Float64Array([2, 0.5, 3]);
  const expected = 0.5 + Math.log(Math.exp(-j) + Math.exp(-2) + Math.exp(-0.5) + Math.exp(-3));
  assert.ok(Math.abs(plugin.forward(config, y, [1], 1, 3) - expected) < 1e-12);
  // Distances as large as an untrained LeNet-5's (about 84) do not underflow.
  const far = new Float64Array([800, 900, 1000]);
  const v = plugin.forward(config, far, [0], 1, 3);
  assert.ok(Math.abs(v - (800 - j)) < 1e-9, `${v}`);
});
