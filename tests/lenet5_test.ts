/**
 * The faithful preset against the paper (../shared/LENET5_SPEC.md): counts,
 * Table I, the RBF codes, the init ranges, and the sparse C3 against a
 * dense reference convolution written here.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type LayerSpec } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { type Conv2dConfig, denseConvWeights } from "../layers/conv2d.ts";
import { PRESETS } from "../presets/presets.ts";
import { assertAllClose, randomFill } from "./_helpers.ts";

const lenet5 = () => buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 3 });
const byName = (m: ReturnType<typeof lenet5>, name: string) => m.layers.find((l) => l.name === name)!;

Deno.test("lenet5: 60,000 trainable parameters and 340,908 connections, per layer as in the paper", () => {
  const m = lenet5();
  const counts = m.counts();
  assert.equal(counts.trainable, 60_000);
  assert.equal(counts.connections, 340_908);
  assert.equal(counts.fixed, 840);
  assert.equal(m.trainableCount, 60_000);
  const expected: [string, number, number, number[]][] = [
    ["C1", 156, 122_304, [6, 28, 28]],
    ["S2", 12, 5_880, [6, 14, 14]],
    ["C3", 1_516, 151_600, [16, 10, 10]],
    ["S4", 32, 2_000, [16, 5, 5]],
    ["C5", 48_120, 48_120, [120, 1, 1]],
    ["F6", 10_164, 10_164, [84]],
    ["OUTPUT", 0, 840, [10]],
  ];
  for (const [name, params, connections, shape] of expected) {
    const l = byName(m, name);
    assert.equal(l.trainable, params, `${name} parameters`);
    assert.equal(l.connections, connections, `${name} connections`);
    assert.deepEqual(l.outShape, shape, `${name} output shape`);
  }
  // Every convolution and subsampling layer, and F6, is followed by the squash.
  for (const name of ["C1", "S2", "C3", "S4", "C5", "F6"]) {
    const i = m.layers.findIndex((l) => l.name === name);
    const next = m.layers[i + 1].type === "flatten" ? m.layers[i + 2] : m.layers[i + 1];
    assert.equal(next.type, "squash", `${name} is squashed`);
  }
});

// Table I as printed in the spec, rows = S2 maps, columns = C3 maps.
const TABLE_I = `
1 0 0 0 1 1 1 0 0 1 1 1 1 0 1 1
1 1 0 0 0 1 1 1 0 0 1 1 1 1 0 1
1 1 1 0 0 0 1 1 1 0 0 1 0 1 1 1
0 1 1 1 0 0 1 1 1 1 0 0 1 0 1 1
0 0 1 1 1 0 0 1 1 1 1 0 1 1 0 1
0 0 0 1 1 1 0 0 1 1 1 1 0 1 1 1`.trim().split("\n").map((r) => r.trim().split(/\s+/).map(Number));

Deno.test("lenet5: C3 follows Table I (60 of 96 pairs; 3, 4, 4 and 6 maps as the paper describes)", () => {
  const c = byName(lenet5(), "C3").config as Conv2dConfig;
  for (let o = 0; o < 16; o++) {
    const seen = [...c.inputs.subarray(c.start[o], c.start[o + 1])];
    const expected = TABLE_I.map((r, i) => (r[o] === 1 ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(seen, expected, `C3 map ${o}`);
    // Contiguous, wrapping around from map 5 to map 0.
    const contiguous = [0, 1, 2, 3, 4, 5].some((s0) =>
      seen.length === new Set(seen).size && seen.every((v) => (v - s0 + 6) % 6 < seen.length)
    );
    if (o < 6) assert.ok(seen.length === 3 && contiguous, `map ${o} sees 3 contiguous maps`);
    else if (o < 12) assert.ok(seen.length === 4 && contiguous, `map ${o} sees 4 contiguous maps`);
    else if (o < 15) assert.equal(seen.length, 4, `map ${o} sees 4 maps`);
    else assert.equal(seen.length, 6, "map 15 sees all 6");
    if (o >= 12 && o < 15) assert.ok(!contiguous, `map ${o} sees non-contiguous maps`);
  }
  assert.equal(c.inputs.length, 60);
});

Deno.test("lenet5: sparse C3 equals a dense convolution whose unconnected weights are zero", () => {
  const m = lenet5();
  const C3 = byName(m, "C3");
  const c = C3.config as Conv2dConfig;
  const x = randomFill(new Float32Array(6 * 14 * 14), new Rng(2));
  const y = new Float32Array(16 * 10 * 10);
  C3.plugin.forward(C3, x, y, 1);
  const dense = denseConvWeights(c, 6, C3.params[0]);
  // Reference: plain dense valid convolution, written out here.
  const ref = new Float64Array(16 * 100);
  for (let o = 0; o < 16; o++) {
    for (let oy = 0; oy < 10; oy++) {
      for (let ox = 0; ox < 10; ox++) {
        let s = C3.params[1][o];
        for (let i = 0; i < 6; i++) {
          for (let ky = 0; ky < 5; ky++) {
            for (let kx = 0; kx < 5; kx++) {
              s += dense[((o * 6 + i) * 5 + ky) * 5 + kx] * x[i * 196 + (oy + ky) * 14 + ox + kx];
            }
          }
        }
        ref[o * 100 + oy * 10 + ox] = s;
      }
    }
  }
  assertAllClose(y, ref, "C3 output", 1e-5, 1e-5);
  // The dense weights are exactly zero where Table I has no connection.
  for (let o = 0; o < 16; o++) {
    for (let i = 0; i < 6; i++) {
      const block = dense.subarray((o * 6 + i) * 25, (o * 6 + i + 1) * 25);
      assert.equal(block.some((v) => v !== 0), TABLE_I[i][o] === 1, `pair (${i}, ${o})`);
    }
  }
});

// The codes as printed in the spec (7 x 12 bitmaps, 1 = +1).
const SPEC_CODES = `
0111110/0000000/0011100/0110110/1100011/1100011/1100011/1100011/0110110/0011100/0000000/0000000
0001100/0011100/0111100/0001100/0001100/0001100/0001100/0001100/0001100/0111111/0000000/0000000
0111110/0000000/0111110/1100011/1000011/0000110/0011100/0110000/1100000/1111111/0000000/0000000
1111111/0000011/0000110/0001100/0011110/0000011/0000011/0000011/1100011/0111110/0000000/0000000
0111110/0000000/0000000/0110011/0110011/1110011/1100011/1100011/1100111/0111111/0000011/0000011
0111110/0000000/1111111/1100000/1100000/0111100/0011110/0000011/1100011/0111110/0000000/0000000
0011110/0110000/1100000/1100000/1111110/1110011/1100011/1100011/1110011/0111110/0000000/0000000
1111111/0000011/0000011/0000110/0001100/0001100/0011000/0011000/0011000/0011000/0000000/0000000
0111110/1100011/1100011/1100011/0111110/1100011/1100011/1100011/1100011/0111110/0000000/0000000
0111110/1100111/1100011/1100011/1100111/0111111/0000011/0000011/0000110/0111100/0000000/0000000`;

Deno.test("lenet5: the RBF codes are the spec's 7x12 bitmaps as -1/+1, fixed", () => {
  const m = lenet5();
  const out = byName(m, "OUTPUT");
  const codes = out.params[0];
  assert.equal(codes.length, 840);
  SPEC_CODES.trim().split("\n").forEach((bitmap, digit) => {
    const rows = bitmap.split("/");
    assert.equal(rows.length, 12);
    rows.forEach((row, r) => {
      assert.equal(row.length, 7);
      for (let col = 0; col < 7; col++) {
        assert.equal(codes[digit * 84 + r * 7 + col], row[col] === "1" ? 1 : -1, `digit ${digit} row ${r} col ${col}`);
      }
    });
  });
  // Fixed: not part of the trainable buffer, no gradient.
  assert.equal(out.trainable, 0);
  assert.equal(out.grads[0].length, 0);
  // A code fed in as F6's output is at distance 0 from its own unit.
  const y = new Float32Array(10);
  out.plugin.forward(out, codes.subarray(7 * 84, 8 * 84), y, 1);
  assert.equal(y[7], 0);
  assert.ok(y.every((v, i) => i === 7 || v > 0));
});

for (
  const [preset, scale, what] of [
    ["lenet5-literal", (f: number) => f, "+-2.4/F_i, the paper's text"],
    ["lenet5", Math.sqrt, "+-2.4/sqrt(F_i), the default recipe's"],
  ] as const
) {
  Deno.test(`${preset}: init is uniform in ${what}, F_i the fan-in of each unit (C3 by its own maps)`, () => {
    const m = buildModel(PRESETS[preset].graph, { registry: defaultRegistry, seed: 3 });
    const check = (values: ArrayLike<number>, fanIn: number, what: string) => {
      const bound = 2.4 / scale(fanIn);
      let max = 0;
      for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]));
      assert.ok(max <= bound, `${what}: |w| <= ${bound}, got ${max}`);
      if (values.length >= 20) assert.ok(max > 0.8 * bound, `${what}: spread over the range, max ${max} of ${bound}`);
    };
    const p = m.namedParams();
    check(p.get("C1.weight")!, 25, "C1 weights");
    check(p.get("C1.bias")!, 25, "C1 biases");
    check(p.get("S2.coef")!, 4, "S2 coefficients");
    check(p.get("C5.weight")!, 400, "C5 weights");
    check(p.get("F6.weight")!, 120, "F6 weights");
    const c = byName(m, "C3").config as Conv2dConfig;
    const w = p.get("C3.weight")!;
    for (let o = 0; o < 16; o++) {
      const fanIn = (c.start[o + 1] - c.start[o]) * 25;
      check(w.subarray(c.start[o] * 25, c.start[o + 1] * 25), fanIn, `C3 map ${o}`);
    }
  });
}

Deno.test("lenet5: S2 and S4 start as 2x2 averaging (coefficient 1/4, bias 0), the rest draw for draw as paper-sqrt", () => {
  const graph = PRESETS.lenet5.graph;
  // What --init paper-sqrt builds: the graph's init for every layer.
  const drawn = { ...graph, layers: graph.layers.map(({ init: _i, ...l }) => l as LayerSpec) };
  const m = buildModel(graph, { registry: defaultRegistry, seed: 5 }).namedParams();
  const d = buildModel(drawn, { registry: defaultRegistry, seed: 5 }).namedParams();
  assert.deepEqual([...m.keys()], [...d.keys()]);
  for (const [name, values] of m) {
    if (/^S[24]\./.test(name)) {
      assert.deepEqual([...new Set(values)], [name.endsWith(".coef") ? 0.25 : 0], name);
      assert.ok(new Set(d.get(name)).size === values.length, `${name}: drawn under paper-sqrt`);
    } else {
      assert.deepEqual(values, d.get(name), `${name}: as paper-sqrt draws it`);
    }
  }
});

Deno.test("lenet5-modern: ReLU, max-pool, full C3, 10 logits, softmax cross-entropy", () => {
  const m = buildModel(PRESETS["lenet5-modern"].graph, { registry: defaultRegistry, seed: 3 });
  assert.equal(m.counts().trainable, 156 + 2_416 + 48_120 + 10_164 + 850);
  assert.deepEqual(m.outputShape, [10]);
  assert.equal(m.loss.plugin.type, "softmax-cross-entropy");
  assert.ok(m.layers.some((l) => l.type === "maxpool") && m.layers.some((l) => l.type === "relu"));
  assert.ok(!m.layers.some((l) => l.type === "squash" || l.type === "rbf" || l.type === "subsample"));
});
