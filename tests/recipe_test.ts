/**
 * A run setting an optimizer owns goes from the plugin's `options` through a
 * run's settings, the optimizer's spec, the recipe's text and a
 * checkpoint's checks with nothing else naming it: a user's optimizer with
 * an option of its own, in a registry of its own.
 */
import assert from "node:assert/strict";
import { createRegistries } from "../builtins.ts";
import { loadCheckpoint, saveCheckpoint } from "../cli/_run.ts";
import { ConfigReader, integerRule } from "../engine/config.ts";
import { buildModel } from "../engine/model.ts";
import { createOptimizer } from "../engine/train.ts";
import type { OptimizerPlugin } from "../engine/types.ts";
import { type Preset, PRESETS } from "../presets/presets.ts";
import { type Flags, OPTIONS, settingsFromFlags } from "../cli/_flags.ts";
import { parseArgs } from "node:util";
import { formatRecipe, optimizerSpecOf, presetSettings, settingsRows } from "../presets/recipe.ts";

/** SGD whose eta ramps up over `warmup` updates. */
const warm: OptimizerPlugin<{ lr: number; warmup: number }> = {
  type: "warm-sgd",
  description: "SGD with a warm-up",
  needsCurvature: false,
  options: [{ key: "warmup", flag: "warmup", arg: "N", help: "updates of warm-up", rule: integerRule(1), fallback: 4 }],
  configure(raw, where) {
    const r = new ConfigReader(raw, where, ["type"]);
    const c = { lr: r.number("lr", { fallback: 0.1 }), warmup: r.rule<number>("warmup", integerRule(1), 4) };
    r.done();
    return c;
  },
  learningRate: (c) => c.lr,
  createState: () => ({ t: 0 }),
  describe: (c) => ({
    name: "warm-sgd",
    recipe: `, ${c.warmup} updates of warm-up`,
    rows: [["warm-up", `${c.warmup}`]],
  }),
  step(c, state, { params, grads, lr }) {
    const t = state.t = (state.t as number) + 1;
    for (let k = 0; k < params.length; k++) params[k] -= lr * Math.min(1, t / c.warmup) * grads[k];
  },
};

Deno.test("recipe: an optimizer's own setting travels from its options to the settings, the spec, the text and the checkpoint", async () => {
  const registry = createRegistries();
  registry.optimizers.register(warm);
  const preset: Preset = {
    name: "tiny",
    description: "a tiny net",
    graph: { input: [4], layers: [{ type: "full", units: 2 }], loss: { type: "softmax-cross-entropy" } },
    optimizer: { type: "warm-sgd", lr: 0.05, warmup: 7 },
    batch: 2,
    epochs: 3,
  };
  const settings = presetSettings(preset, registry, 1);
  assert.deepEqual(settings.optimizer, { type: "warm-sgd", lr: 0.05 }, "the spec a run's settings hold");
  assert.equal(settings.warmup, 7, "the optimizer's setting beside it");
  const spec = optimizerSpecOf(settings, registry);
  assert.deepEqual(spec, { type: "warm-sgd", lr: 0.05, warmup: 7 });
  const model = buildModel(settings.graph, { registry, seed: 1 });
  const optimizer = createOptimizer(spec, model, registry);
  assert.match(
    formatRecipe(settings, optimizer),
    /^recipe: warm-sgd, lr 0\.05, batch 2, 3 passes, 7 updates of warm-up$/,
  );
  assert.deepEqual(settingsRows(settings, optimizer, {}, { source: "x", trainCount: 8 }).at(-2), ["warm-up", "7"]);

  const dir = await Deno.makeTempDir();
  try {
    const fit = { passesDone: 0, steps: 0, history: [], lossCurve: [] };
    await saveCheckpoint(dir, settings, model, optimizer, fit, 0);
    const back = await loadCheckpoint(dir, registry);
    assert.equal((back.optimizer.config as { warmup: number }).warmup, 7, "resumed with the setting");
    await saveCheckpoint(dir, { ...settings, warmup: 0 }, model, optimizer, fit, 0);
    await assert.rejects(loadCheckpoint(dir, registry), /field "settings\.warmup" must be an integer >= 1, got 0/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recipe: each departure's flag puts the paper's reading back, that departure alone", async () => {
  const departures = (PRESETS.lenet5.deviations ?? []).map((d) => d.setting);
  for (const d of PRESETS.lenet5.deviations ?? []) {
    const args = d.literal.split(" (")[0].split(" ").filter((a) => a.length > 0);
    assert.ok(args[0].startsWith("--"), `${d.setting}: its flag "${d.literal}" starts with an option`);
    const { values } = parseArgs({ args, options: OPTIONS, strict: true });
    const { settings } = await settingsFromFlags(values as Flags, () => {});
    const left = (settings.deviations ?? []).map((x) => x.setting);
    assert.deepEqual(left, departures.filter((s) => s !== d.setting), `${d.literal} undoes ${d.setting} alone`);
  }
});
