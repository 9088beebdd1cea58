/** A user registers a layer from their own script, without touching the library. */
import assert from "node:assert/strict";
import { buildModel, createRegistries, defaultRegistry, elementwise, type LayerPlugin, Registry } from "../mod.ts";
import { harness } from "./_helpers.ts";
import { assertAllClose, numericGradient, randomFill } from "./_helpers.ts";
import { Rng } from "../engine/rng.ts";

/** A user's layer: y = x * scale + shift, per map, with trainable scale and shift (like the README's). */
const affine: LayerPlugin<{ maps: number }> = {
  type: "my-affine",
  description: "per-map scale and shift",
  configure: (_raw, input) => ({ maps: input[0] }),
  outputShape: (_c, input) => input,
  params: (c) => [
    { name: "scale", shape: [c.maps], fanIn: 1, fanOut: 1, role: "weight" },
    { name: "shift", shape: [c.maps], fanIn: 1, fanOut: 1, role: "bias" },
  ],
  connections: (_c, input) => input.reduce((a, b) => a * b, 1),
  forward(l, x, y, n) {
    const per = l.inSize / l.config.maps;
    for (let i = 0; i < n * l.inSize; i++) {
      const m = Math.floor((i % l.inSize) / per);
      y[i] = x[i] * l.params[0][m] + l.params[1][m];
    }
  },
  backward(l, x, _y, dy, dx, [gs, gb], n) {
    const per = l.inSize / l.config.maps;
    for (let i = 0; i < n * l.inSize; i++) {
      const m = Math.floor((i % l.inSize) / per);
      gs[m] += dy[i] * x[i];
      gb[m] += dy[i];
      if (dx) dx[i] += dy[i] * l.params[0][m];
    }
  },
  backward2(l, x, _y, _dy, d2y, d2x, [hs, hb], n) {
    const per = l.inSize / l.config.maps;
    for (let i = 0; i < n * l.inSize; i++) {
      const m = Math.floor((i % l.inSize) / per);
      hs[m] += d2y[i] * x[i] * x[i];
      hb[m] += d2y[i];
      if (d2x) d2x[i] += d2y[i] * l.params[0][m] ** 2;
    }
  },
};

Deno.test("registry: a user-defined layer registers, builds into a graph, and trains through the engine", () => {
  const registry = createRegistries();
  registry.layers.register(affine);
  assert.ok(registry.layers.types().includes("my-affine"));
  assert.ok(!defaultRegistry.layers.has("my-affine"), "a fresh registry leaves the default one alone");
  const graph = {
    input: [2, 4, 4],
    layers: [{ type: "my-affine" }, { type: "squash" }, { type: "flatten" }, { type: "full", units: 3 }],
    loss: { type: "softmax-cross-entropy" },
  };
  const model = buildModel(graph, { registry, dtype: "float64", seed: 1 });
  assert.equal(model.counts().trainable, 4 + 32 * 3 + 3);
  // Its gradient flows through the engine and matches finite differences.
  const x = randomFill(new Float64Array(2 * 32), new Rng(1));
  model.zeroGrads();
  model.forward(x, 2);
  model.backward([0, 2]);
  const E = () => (model.forward(x, 2), model.lossValue([0, 2]));
  assertAllClose(model.grads, numericGradient(model.params.subarray(0, model.trainableCount), E), "grads", 1e-5, 1e-8);
  // The harness accepts it too.
  const h = harness({ type: "my-affine" }, [2, 3, 3], { registry });
  assert.equal(h.y.length, 2 * 18);
});

Deno.test("registry: an activation from f and f' alone, registered in the default registry", () => {
  const softsign = elementwise<Record<never, never>>({
    type: "test-softsign",
    description: "x / (1 + |x|)",
    configure: () => ({}),
    f: (_c, x) => x / (1 + Math.abs(x)),
    df: (_c, x) => 1 / (1 + Math.abs(x)) ** 2,
  });
  if (!defaultRegistry.layers.has("test-softsign")) defaultRegistry.layers.register(softsign);
  const h = harness({ type: "test-softsign" }, [5]);
  const dx = new Float64Array(h.x.length);
  const r = new Float64Array(h.y.length).fill(1);
  h.layer.plugin.backward(h.layer, h.x, h.y, r, dx, [], h.n);
  const E = () => h.run().reduce((s, v) => s + v, 0);
  assertAllClose(dx, numericGradient(h.x, E), "softsign dx", 1e-6, 1e-9);
});

Deno.test("registry: registering a type twice is an error unless replaced; bad names are refused", () => {
  const r = new Registry<{ type: string; description: string }>("layer");
  r.register({ type: "x", description: "" });
  assert.throws(() => r.register({ type: "x", description: "" }), {
    message: `Cannot register layer type "x": it is already registered (pass { replace: true } to override)`,
  });
  r.register({ type: "x", description: "new" }, { replace: true });
  assert.equal(r.get("x").description, "new");
  assert.throws(() => r.register({ type: "", description: "" }), /Cannot register layer: "type" must be a name/);
  assert.throws(() => r.get("y", `layer "L"`), {
    message: `Cannot find registered layer type "y" for layer "L"; registered layer types: x`,
  });
});
