/**
 * Pass 1's SDLM step sizes, layer by layer: where ours sit against the
 * paper's "about 7e-5 .. 0.016" and why. For each seed the lenet5 preset's
 * init (and the variants below) takes h_kk from 500 training patterns drawn
 * with the seed, as `deno task train` does before pass 1, and each trainable
 * tensor's steps eta / (mu + h_kk) are listed for eta 0.0005 (pass 1) with the
 * preset's mu and the paper's 0.02, and with h_kk taken from the MAP loss (the
 * preset's) and from the MSE criterion E = y_D (`--curvature-loss mse-rbf`).
 *
 *   deno run --allow-read --allow-write --allow-run bench/step_sizes.ts   # prints the table, records docs/runs/step-sizes.json
 *
 * @module
 */
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { preprocess } from "../data/preprocess.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { estimateCurvature } from "../engine/train.ts";
import type { CurvatureLoss } from "../engine/types.ts";
import { PRESETS } from "../presets/presets.ts";
import { writeFileAtomic } from "../engine/model_file.ts";
import { commitNow, cpuModel } from "./_docs.ts";

const ETA = 0.0005, SAMPLES = 500, SEEDS = [0, 1, 2];
const preset = PRESETS.lenet5;
const VARIANTS: { name: string; graph: GraphSpec }[] = [
  { name: "the default's init", graph: preset.graph },
  {
    name: "the paper's init +-2.4/F_i (S2, S4 averaging)",
    graph: { ...preset.graph, init: "paper" },
  },
];

const { train } = await loadMnist();
const mse: CurvatureLoss = {
  plugin: defaultRegistry.losses.get("mse-rbf"),
  config: defaultRegistry.losses.get("mse-rbf").configure({ type: "mse-rbf" }, [10], { label: "mse-rbf" }),
};

interface Row {
  variant: string;
  seed: number;
  curvature: string;
  tensor: string;
  h: [number, number];
  steps: Record<string, [number, number]>;
}
const rows: Row[] = [];
for (const v of VARIANTS) {
  for (const seed of SEEDS) {
    const model = buildModel(v.graph, { registry: defaultRegistry, seed, kernels: "js" });
    const rng = new Rng(1000 + seed);
    const picks = Array.from({ length: SAMPLES }, () => rng.int(train.count));
    const images = new Uint8Array(SAMPLES * 784);
    picks.forEach((p, i) => images.set(train.images.subarray(p * 784, (p + 1) * 784), i * 784));
    const x = preprocess(images, SAMPLES, 28, 28);
    const labels = Uint8Array.from(picks, (p) => train.labels[p]);
    for (const [curvature, loss] of [["MAP loss", undefined], ["MSE criterion", mse]] as const) {
      estimateCurvature(model, x, labels, SAMPLES, { loss });
      for (const l of model.layers) {
        l.hess.forEach((h, k) => {
          if (h.length === 0) return;
          let lo = Infinity, hi = -Infinity;
          for (const value of h) (lo = Math.min(lo, value), hi = Math.max(hi, value));
          const steps = Object.fromEntries(
            [0.1, 0.02].map((mu) => [`mu ${mu}`, [ETA / (mu + hi), ETA / (mu + lo)] as [number, number]]),
          );
          rows.push({ variant: v.name, seed, curvature, tensor: `${l.name}.${l.specs[k].name}`, h: [lo, hi], steps });
        });
      }
    }
  }
}

const e = (x: number) => x.toExponential(1);
console.log("| init | seed | h_kk from | tensor | h_kk | steps, mu 0.1 | steps, mu 0.02 |");
console.log("| --- | --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  const range = ([a, b]: [number, number]) => `${e(a)} .. ${e(b)}`;
  console.log(
    `| ${r.variant} | ${r.seed} | ${r.curvature} | ${r.tensor} | ${range(r.h)} | ${range(r.steps["mu 0.1"])} | ${
      range(r.steps["mu 0.02"])
    } |`,
  );
}

const root = new URL("..", import.meta.url).pathname;
const record = {
  name: "step-sizes",
  what: "pass 1's SDLM steps per tensor at the init, h_kk from 500 training patterns, eta 0.0005",
  command: "deno run --allow-read --allow-write --allow-run bench/step_sizes.ts",
  commit: await commitNow(),
  date: new Date().toISOString().slice(0, 10),
  machine: { cpu: await cpuModel(), deno: Deno.version.deno },
  rows,
};
const path = join(root, "docs", "runs", "step-sizes.json");
await writeFileAtomic(path, JSON.stringify(record, null, 2) + "\n");
console.error(`Recorded ${path}`);
