/**
 * Presets: the faithful LeNet-5, a modern variant and the other networks of
 * the paper's comparison (Fig. 9), as graphs plus the training recipe that
 * goes with them.
 *
 * @module
 */
import type { GraphSpec } from "../engine/model.ts";
import type { OptimizerSpec } from "../engine/train.ts";
import { DEFAULT_MAP_J } from "../losses/map.ts";
import { DEFAULT_SDLM_MU } from "../optim/sdlm.ts";
import { type Choice, FIG9_NETWORKS } from "./fig9.ts";
import { C3_TABLE, RBF_CODES } from "./lenet5_data.ts";

/** A graph and how the paper (or common practice) trains it. */
export interface Preset {
  /** Its key in {@linkcode PRESETS}, e.g. `"lenet5"`. */
  readonly name: string;
  /** What the preset is, in one line for help texts. */
  readonly description: string;
  /** The model to build. */
  readonly graph: GraphSpec;
  /** The optimizer to train with and its config, e.g. SDLM with its `lr`, `mu` and curvature settings. */
  readonly optimizer: OptimizerSpec;
  /** Patterns per update. */
  readonly batch: number;
  /** Passes over the training set. */
  readonly epochs: number;
  /** Global learning rate per pass (index 0 = pass 1; the last value repeats). Absent: the optimizer's lr. */
  readonly schedule?: readonly number[];
  /** Where the recipe departs from the paper's text, or fills in what the paper leaves open. */
  readonly deviations?: readonly Deviation[];
  /** For a network of Fig. 9: what the paper does not say of it, and what the graph does there. */
  readonly choices?: readonly Choice[];
}

/**
 * One place where a preset's recipe is not the paper's literal text: the
 * setting, both values, a one-line reason (measured), and the flag that puts
 * the literal reading back.
 */
export interface Deviation {
  /**
   * Which setting: the graph's `init`, the init of its subsampling layers (`subsampleInit`), the MAP loss's `j`,
   * SDLM's `mu` or its `curvatureMemory`.
   */
  readonly setting: "init" | "subsampleInit" | "j" | "mu" | "curvatureMemory";
  /** The value the recipe uses (what a run is compared against to tell whether the deviation holds). */
  readonly value: string | number;
  /** What the paper says. */
  readonly paper: string;
  /** What the recipe does instead. */
  readonly here: string;
  /** Why, in one line, with the measurement behind it. */
  readonly why: string;
  /** The flag of `deno task train` that restores the paper's reading. */
  readonly literal: string;
}

/** What a run is, as far as its deviations go. */
export interface RunRecipe {
  /** The graph trained (its init and loss). */
  readonly graph: GraphSpec;
  /** The optimizer (SDLM's mu). */
  readonly optimizer?: OptimizerSpec;
  /** Fraction of h_kk kept from pass to pass (SDLM's `curvatureMemory`); absent: 0. */
  readonly curvatureMemory?: unknown;
}

/** The value a run has for a deviation's setting (defaults: init "paper", SDLM's mu 0.02, curvature memory 0). */
export function settingValue(setting: Deviation["setting"], run: RunRecipe): string | number | undefined {
  if (setting === "init") return run.graph.init ?? "paper";
  if (setting === "subsampleInit") {
    const layer = run.graph.layers.find((l) => l.type === "subsample");
    return layer ? (layer.init as string | undefined) ?? run.graph.init ?? "paper" : undefined;
  }
  if (setting === "mu") {
    return run.optimizer?.type === "sdlm" ? (run.optimizer.mu as number | undefined) ?? DEFAULT_SDLM_MU : undefined;
  }
  if (setting === "j") {
    return run.graph.loss.type === "map" ? (run.graph.loss.j as number | undefined) ?? DEFAULT_MAP_J : undefined;
  }
  return (run.curvatureMemory ?? run.optimizer?.curvatureMemory ?? 0) as number;
}

/**
 * The deviations of `preset` that still hold for a run (a flag may have put
 * the literal value back).
 *
 * @example
 * ```ts
 * import { activeDeviations, PRESETS } from "./presets.ts";
 * const p = PRESETS.lenet5;
 * const all = activeDeviations(p, { graph: p.graph, optimizer: p.optimizer });
 * const noInit = activeDeviations(p, { graph: { ...p.graph, init: "paper" }, optimizer: p.optimizer });
 * if (all.length !== noInit.length + 1) throw new Error("--init paper takes the init deviation away");
 * ```
 */
export function activeDeviations(preset: Pick<Preset, "deviations">, run: RunRecipe): Deviation[] {
  return (preset.deviations ?? []).filter((d) => settingValue(d.setting, run) === d.value);
}

/** The paper's eta schedule: 2 passes at 0.0005, 3 at 0.0002, 3 at 0.0001, 4 at 0.00005, then 0.00001. */
export const PAPER_SCHEDULE: readonly number[] = [
  ...Array(2).fill(0.0005),
  ...Array(3).fill(0.0002),
  ...Array(3).fill(0.0001),
  ...Array(4).fill(0.00005),
  0.00001,
];

/**
 * LeNet-5 as published: C1-S2-C3-S4-C5-F6-RBF, every layer but the RBF squashed.
 *
 * @example
 * ```ts
 * import { lenet5Graph } from "./presets.ts";
 * const graph = lenet5Graph({ j: 1 });
 * if (graph.loss.j !== 1 || graph.layers.length !== 14 || graph.init !== "paper") throw new Error("bad graph");
 * ```
 */
export function lenet5Graph(options: { j?: number; init?: string; subsampleInit?: string } = {}): GraphSpec {
  const sub = options.subsampleInit ? { init: options.subsampleInit } : {};
  return {
    name: "lenet5",
    input: [1, 32, 32],
    init: options.init ?? "paper",
    layers: [
      { type: "conv2d", name: "C1", maps: 6, kernel: 5 },
      { type: "squash", name: "C1.f" },
      { type: "subsample", name: "S2", size: 2, ...sub },
      { type: "squash", name: "S2.f" },
      { type: "conv2d", name: "C3", maps: 16, kernel: 5, table: C3_TABLE.map((r) => [...r]) },
      { type: "squash", name: "C3.f" },
      { type: "subsample", name: "S4", size: 2, ...sub },
      { type: "squash", name: "S4.f" },
      { type: "conv2d", name: "C5", maps: 120, kernel: 5 },
      { type: "squash", name: "C5.f" },
      { type: "flatten", name: "C5.flat" },
      { type: "full", name: "F6", units: 84 },
      { type: "squash", name: "F6.f" },
      { type: "rbf", name: "OUTPUT", codes: [...RBF_CODES] },
    ],
    loss: { type: "map", j: options.j ?? DEFAULT_MAP_J },
  };
}

/** The usual modern variant: ReLU, max-pooling, full C3, logits with softmax cross-entropy. */
export function lenet5ModernGraph(): GraphSpec {
  return {
    name: "lenet5-modern",
    input: [1, 32, 32],
    init: "he-uniform",
    layers: [
      { type: "conv2d", name: "C1", maps: 6, kernel: 5 },
      { type: "relu", name: "C1.relu" },
      { type: "maxpool", name: "S2", size: 2 },
      { type: "conv2d", name: "C3", maps: 16, kernel: 5 },
      { type: "relu", name: "C3.relu" },
      { type: "maxpool", name: "S4", size: 2 },
      { type: "flatten", name: "S4.flat" },
      { type: "full", name: "C5", units: 120 },
      { type: "relu", name: "C5.relu" },
      { type: "full", name: "F6", units: 84 },
      { type: "relu", name: "F6.relu" },
      { type: "full", name: "OUTPUT", units: 10, init: "glorot-uniform" },
    ],
    loss: { type: "softmax-cross-entropy" },
  };
}

/** j of the MAP loss in the default recipe. */
export const LENET5_J = 10;

/** SDLM's mu in the default recipe: the paper's (the ablation on seeds 0-9 found no gain in 0.1). */
export const LENET5_MU = DEFAULT_SDLM_MU;

/** Fraction of h_kk kept from pass to pass in the default recipe. */
export const LENET5_CURVATURE_MEMORY = 0.9;

/** Init of the subsampling layers (S2, S4) in the default recipe: coefficient 1/4, bias 0, i.e. 2x2 averaging. */
export const LENET5_SUBSAMPLE_INIT = "mean";

/** The default recipe's measured settings in one line, e.g. for help texts and warnings. */
export const LENET5_SETTINGS: string = `init +-2.4/sqrt(F_i) with S2 and S4 starting as 2x2 means, ` +
  `${LENET5_CURVATURE_MEMORY} of h_kk kept, j = ${LENET5_J}`;

/**
 * Where the default `lenet5` recipe departs from the paper's text, or fills in what it leaves open. Each was undone
 * alone on seeds 0-9 (docs/results.md, "Each departure undone alone"); the reason quotes what the ablation's rule
 * found (`ablationVerdict` of bench/reproduce.ts), and tests/docs_test.ts holds it to the records.
 */
export const LENET5_DEVIATIONS: readonly Deviation[] = [
  {
    setting: "init",
    value: "paper-sqrt",
    paper: "weights uniform in +-2.4/F_i (appendix A)",
    here: "uniform in +-2.4/sqrt(F_i)",
    why: "read as a misprint for sqrt: with +-2.4/F_i almost every h_kk is far below mu, so almost every parameter " +
      "takes the largest step eta/mu, and no seed of 0-9 learns in pass 1 (89.90% to 91.08%; pass 1 at 91.08% on " +
      "seed 0)",
    literal: "--init paper --subsample-init mean (--init paper alone also draws S2 and S4)",
  },
  {
    setting: "subsampleInit",
    value: LENET5_SUBSAMPLE_INIT,
    paper: "S2's and S4's coefficients and biases drawn like every weight (appendix A)",
    here: "coefficient 1/4 and bias 0 in every map: S2 and S4 start as 2x2 averaging",
    why:
      "each is shared by every unit of its map, so its h_kk is the largest (6 to 64 at the init) and its steps the " +
      "smallest; drawn, seeds 0-9 end at a mean of 1.08% against 0.89%, higher on nine seeds of ten (mean +0.19 " +
      "points over the mu 0.02 runs; pass 1 at 3.08% on seed 4)",
    literal: "--subsample-init paper-sqrt",
  },
  {
    setting: "curvatureMemory",
    value: LENET5_CURVATURE_MEMORY,
    paper: "h_kk re-estimated on 500 patterns before each pass",
    here: "re-estimated, then blended with the last pass's: h = 0.9 h_last + 0.1 h_new",
    why: "a fresh 500-pattern estimate each pass: pass 1 is the same, but five seeds of 0-9 end between 4.16% and " +
      "9.25%, and the mean is 4.08% against 0.89% (mean +3.19 points over the mu 0.02 runs)",
    literal: "--curvature-memory 0",
  },
  {
    setting: "j",
    value: LENET5_J,
    paper: "j > 0, the rubbish class's constant; no value given",
    here: `j = ${LENET5_J}`,
    why: "the paper leaves j open; with j = 0.1 (lenet5-literal's choice) seeds 0-9 end at a mean of 0.97% against " +
      "0.89%, higher on seven seeds of ten (mean +0.08 points over the mu 0.02 runs)",
    literal: `--j ${DEFAULT_MAP_J} (lenet5-literal's choice; the paper gives none)`,
  },
];

/** The default recipe: SDLM with the measured settings, the paper's eta schedule, one pattern per update, 20 passes. */
const LENET5_RECIPE: Pick<Preset, "optimizer" | "batch" | "epochs" | "schedule"> = {
  optimizer: {
    type: "sdlm",
    lr: PAPER_SCHEDULE[0],
    mu: LENET5_MU,
    curvatureSamples: 500,
    curvatureMemory: LENET5_CURVATURE_MEMORY,
  },
  batch: 1,
  epochs: 20,
  schedule: PAPER_SCHEDULE,
};

/** The presets by name. */
export const PRESETS: Readonly<Record<string, Preset>> = {
  lenet5: {
    name: "lenet5",
    description: "LeNet-5 with the paper's machinery (C3 table, trainable subsampling, squash, RBF codes, MAP loss, " +
      `SDLM, eta schedule) and the recipe measured to train best: ${LENET5_SETTINGS}`,
    graph: lenet5Graph({ j: LENET5_J, init: "paper-sqrt", subsampleInit: LENET5_SUBSAMPLE_INIT }),
    ...LENET5_RECIPE,
    deviations: LENET5_DEVIATIONS,
  },
  "lenet5-literal": {
    name: "lenet5-literal",
    description: "LeNet-5 as the paper's text reads: init +-2.4/F_i, a fresh h_kk each pass, mu 0.02, and " +
      `j = ${DEFAULT_MAP_J} where the paper gives no value`,
    graph: lenet5Graph(),
    optimizer: { type: "sdlm", lr: PAPER_SCHEDULE[0], mu: DEFAULT_SDLM_MU, curvatureSamples: 500 },
    batch: 1,
    epochs: 20,
    schedule: PAPER_SCHEDULE,
    deviations: [
      {
        setting: "j",
        value: DEFAULT_MAP_J,
        paper: "j > 0, the rubbish class's constant; no value given",
        here: `j = ${DEFAULT_MAP_J}`,
        why: "a small constant: e^-j then outweighs the ten digits' e^-y_i once their distances exceed a few " +
          "units, and the loss is close to the MSE criterion y_D",
        literal: "none: the paper gives no value (--j sets one)",
      },
    ],
  },
  "lenet5-modern": {
    name: "lenet5-modern",
    description: "modern variant: ReLU, max-pool, full C3, softmax cross-entropy, Adam with a stepped learning rate",
    graph: lenet5ModernGraph(),
    optimizer: { type: "adam", lr: 0.001 },
    batch: 32,
    epochs: 10,
    // A constant 0.001 stalls near 1.4% test error (measured); stepping it down settles it.
    schedule: [...Array(3).fill(0.001), ...Array(3).fill(0.0003), ...Array(2).fill(0.0001), 0.00003],
  },
  ...Object.fromEntries(FIG9_NETWORKS.map((n): [string, Preset] => [n.name, {
    name: n.name,
    description:
      `${n.row}, a network of the paper's comparison (Fig. 9: ${+(100 * n.paperError).toFixed(2)}% test error), ` +
      "trained with the default lenet5 recipe",
    graph: n.graph,
    ...LENET5_RECIPE,
    choices: n.choices,
  }])),
};

/**
 * The preset called `name`; the error lists the presets.
 *
 * @example
 * ```ts
 * import { getPreset } from "./presets.ts";
 * const p = getPreset("lenet5");
 * if (p.optimizer.type !== "sdlm" || p.epochs !== 20 || p.batch !== 1) throw new Error("the paper's machinery");
 * ```
 */
export function getPreset(name: string): Preset {
  const p = Object.hasOwn(PRESETS, name) ? PRESETS[name] : undefined;
  if (!p) throw new RangeError(`Cannot find preset "${name}"; presets: ${Object.keys(PRESETS).join(", ")}`);
  return p;
}
