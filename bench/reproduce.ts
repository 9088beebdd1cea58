/**
 * The long reproduction runs behind docs/results.md: each recipe is one
 * `deno task train` command with its own run folder under runs/. Runs that
 * already finished are not repeated (their summary.json is read), and a
 * stopped one is resumed.
 *
 * A finished run is kept as a small record in docs/runs/NAME.json (its
 * command, machine and every pass), which is committed; the tables of
 * docs/results.md (today's recipe) and docs/log.md (what was tried) are
 * rebuilt from those records between their `<!-- table:GROUP -->` and
 * `<!-- /table -->` markers, and results.md's `<!-- deviations -->` block
 * from the lenet5 preset's data; the prose around them is left alone.
 *
 *   deno task reproduce                    # every recipe, one after the other, then the tables
 *   deno task reproduce default-seed0 push-samples100-seed1   # some of them, by name
 *   deno task reproduce --table            # only record what has run and rewrite the tables (no training)
 *   deno task reproduce --jobs 2 appc-seed0 appc-seed1   # two runs at a time
 *   deno task reproduce --list             # the recipes and their commands
 *   deno task reproduce --jobs 2 fig9      # the paper's comparison (Fig. 9): docs/fig9.md and docs/fig9.svg
 *
 * @module
 */
import { join } from "node:path";
import { commitNow, cpuModel } from "./_docs.ts";
import { parseArgs } from "node:util";
import { LENET5_SETTINGS, PRESETS } from "../presets/presets.ts";
import { deviationsTable, withDeviations } from "../report/deviations.ts";
import { FIG9_NETWORKS } from "../presets/fig9.ts";
import { FIG9_SEEDS, fig9Chart, fig9Table, rejectedFor05 } from "./_fig9.ts";

/** Which generated table (of docs/results.md or docs/log.md) a recipe belongs to. */
type Group =
  | "recipes"
  | "seeds"
  | "drawn-seeds"
  | "drawn-distort-seeds"
  | "avg-mu002-seeds"
  | "mu003-seeds"
  | "mu003-js-seeds"
  | "distort-seeds"
  | "mu003-distort-seeds"
  | "mu002-seeds"
  | "mu002-distort-seeds"
  | "samples100-seeds"
  | "mse-curvature-seeds"
  | "shuffle-seeds"
  | "screen"
  | "more-seeds"
  | "ablation"
  | "fresh-seeds"
  | "fresh-distort-seeds"
  | "fig9"
  | "today";

interface Recipe {
  readonly name: string;
  readonly group: Group;
  readonly what: string;
  readonly args: readonly string[];
  /** The run is another recipe's (same command): show its record. */
  readonly alias?: string;
  /** The command: `deno task train` (default), `deno task knn` or `deno task boost`. */
  readonly task?: "train" | "knn" | "boost";
}

const LONG_SCHEDULE = ["--schedule", "0.0005x6,0.0002x9,0.0001x9,0.00005x12,0.00001"];

/** One recipe per seed of `on`, named PREFIX-seedN. */
const onSeeds = (on: number[], group: Group, prefix: string, what: string, args: string[]): Recipe[] =>
  on.map((s) => ({
    name: `${prefix}-seed${s}`,
    group,
    what: `${what}, seed ${s}`,
    args: [...args, "--seed", String(s)],
  }));

/** Seeds `from` .. `from + n - 1`. */
const seeds = (n: number, group: Group, prefix: string, what: string, args: string[], from = 0): Recipe[] =>
  onSeeds(Array.from({ length: n }, (_, i) => from + i), group, prefix, what, args);

/** A variant run on some seeds, for the screening table (one row per prefix). */
const screen = (prefix: string, what: string, args: string[], on: number[]): Recipe[] =>
  onSeeds(on, "screen", prefix, what, args);

/** The seed a recipe runs with (its `--seed`). */
const seedOf = (r: Recipe) => Number(r.args[r.args.indexOf("--seed") + 1]);

/** A recipe's variant: its name without the seed. */
const variantOf = (r: Recipe) => r.name.replace(/-seed\d+$/, "");

/**
 * The JS kernels: recipes measured on them name them, so that their commands give their numbers again (the two kernels
 * agree to about 1e-6, not bit for bit).
 */
const JS = ["--kernels", "js"];

/**
 * S2's and S4's coefficients and biases drawn like every weight (the lenet5 preset starts them as 2x2 averaging):
 * `--init` sets every layer's init.
 */
const DRAWN = ["--init", "paper-sqrt"];

/** SDLM's mu at 0.03, with S2 and S4 drawn. */
const MU003 = [...DRAWN, "--mu", "0.03"];

/** A screened variant with S2 and S4 drawn and mu 0.1 named in its command. */
const mu01 = (name: string, what: string, args: string[], on: number[]): Recipe[] =>
  screen(`push-mu01-${name}`, `the default recipe with ${what}`, [...DRAWN, "--mu", "0.1", ...args], on);

/** SDLM's mu at 0.02, with S2 and S4 drawn, on the JS kernels. */
const MU002 = [...JS, ...DRAWN, "--mu", "0.02"];

/** The lenet5-literal preset on the JS kernels, and that one with S2 and S4 drawn. */
const LITERAL = [...JS, "--preset", "lenet5-literal"], SQRT = [...LITERAL, "--init", "paper-sqrt"];

/** lenet5-modern on the JS kernels. */
const MODERN = [...JS, "--preset", "lenet5-modern"];

/** A variant of the mu 0.03 recipe on five seeds, with its own table: group NAME-seeds, recipes push-NAME-seedN. */
const push = (name: string, what: string, args: string[]): Recipe[] =>
  seeds(5, `${name}-seeds` as Group, `push-${name}`, `the mu 0.03 recipe with ${what}`, args);

/** A recipe of the table of recipes; `alias` names the recipe whose run it is. */
const recipe = (name: string, what: string, args: string[], alias?: string): Recipe => ({
  name,
  group: "recipes",
  what,
  args,
  ...(alias ? { alias } : {}),
});

/**
 * The deviations of the default, each undone alone (the ablation table): the flags that put the paper's reading of one
 * setting back, by the name its recipes carry, the setting of the preset's deviations it tests, and the recipe whose runs
 * on the same seeds it is compared with (`base`). The ablation began with mu 0.1 in the default (`appc`); the rule
 * dropped it, so the default became `appc-mu002`, and the first three rows were measured again against it (the rows
 * named `-mu002`). The last row of a setting is the one that decides it; `pass1` rows run pass 1 alone on every seed
 * first, since one seed that does not learn keeps the deviation.
 */
export const ABLATIONS: readonly {
  readonly name: string;
  readonly setting: "init" | "subsampleInit" | "curvatureMemory" | "mu" | "j";
  readonly what: string;
  readonly args: string[];
  readonly base: "appc" | "appc-mu002";
  readonly pass1?: true;
}[] = [
  {
    name: "init",
    setting: "init",
    what: "the paper's init +-2.4/F_i (S2 and S4 still averaging)",
    args: ["--init", "paper", "--subsample-init", "mean"],
    base: "appc",
    pass1: true,
  },
  {
    name: "drawn",
    setting: "subsampleInit",
    what: "S2 and S4 drawn like every weight",
    args: ["--subsample-init", "paper-sqrt"],
    base: "appc",
  },
  {
    name: "mem0",
    setting: "curvatureMemory",
    what: "a fresh h_kk each pass",
    args: ["--curvature-memory", "0"],
    base: "appc",
  },
  { name: "mu002", setting: "mu", what: "the paper's mu 0.02", args: ["--mu", "0.02"], base: "appc" },
  { name: "j01", setting: "j", what: "j = 0.1", args: ["--j", "0.1"], base: "appc-mu002" },
  {
    name: "init-mu002",
    setting: "init",
    what: "the paper's init +-2.4/F_i (S2 and S4 still averaging), against the mu 0.02 default",
    args: ["--init", "paper", "--subsample-init", "mean"],
    base: "appc-mu002",
    pass1: true,
  },
  {
    name: "drawn-mu002",
    setting: "subsampleInit",
    what: "S2 and S4 drawn like every weight, against the mu 0.02 default",
    args: ["--subsample-init", "paper-sqrt"],
    base: "appc-mu002",
  },
  {
    name: "mem0-mu002",
    setting: "curvatureMemory",
    what: "a fresh h_kk each pass, against the mu 0.02 default",
    args: ["--curvature-memory", "0"],
    base: "appc-mu002",
  },
];

/** The ablation row that decides each setting: the last one that tests it. */
export function decidingAblations(): typeof ABLATIONS {
  return ABLATIONS.filter((a, i) => !ABLATIONS.slice(i + 1).some((b) => b.setting === a.setting));
}

/** Seeds the ablation decides on; the fresh seeds (100-119) report the chosen recipe and play no part in any choice. */
const ABLATION_SEEDS = 10, FRESH_FROM = 100;

/** The recipes, in the order of the tables of docs/results.md and docs/log.md. */
export const RECIPES: readonly Recipe[] = [
  // Appendix C's rule for shared weights: the default on seeds 0-9, then each deviation undone alone on them.
  // The paper's init is kept if pass 1 misses 3% on any seed: pass 1 alone first.
  ...ABLATIONS.filter((a) => a.pass1).flatMap((a) =>
    seeds(ABLATION_SEEDS, "ablation", `appc-${a.name}-pass1`, `pass 1 of the default recipe with ${a.what}`, [
      ...a.args,
      "--epochs",
      "1",
    ])
  ),
  ...seeds(ABLATION_SEEDS, "ablation", "appc", "the default lenet5 recipe", []),
  ...ABLATIONS.flatMap((a) =>
    seeds(ABLATION_SEEDS, "ablation", `appc-${a.name}`, `the default recipe with ${a.what}`, a.args)
  ),
  // The recipe the ablation chose, reported on seeds no decision used.
  ...seeds(20, "fresh-seeds", "fresh", "the default lenet5 recipe", [], FRESH_FROM),
  ...seeds(3, "fresh-distort-seeds", "fresh-distort", "the default recipe with distortions", ["--distort"], FRESH_FROM),
  // The paper's comparison (Fig. 9): each network of presets/fig9.ts on seeds 0-2, and nearest neighbours.
  ...FIG9_NETWORKS.flatMap((n) => [
    ...seeds(FIG9_SEEDS.length, "fig9", `fig9-${n.name}`, `${n.row}, a network of Fig. 9`, ["--preset", n.name]),
    // The rows Fig. 9 also gives trained with distortions.
    ...(n.paperDistortedError === undefined ? [] : seeds(
      FIG9_SEEDS.length,
      "fig9",
      `fig9-dist-${n.name}`,
      `${n.row} with distortions, a network of Fig. 9`,
      ["--preset", n.name, "--distort"],
    )),
  ]),
  { name: "fig9-knn", group: "fig9", what: "K-NN Euclidean, k = 1..3", args: ["--k", "3"], task: "knn" },
  ...FIG9_SEEDS.map((seed): Recipe => ({
    name: `fig9-boosted-lenet4-seed${seed}`,
    group: "fig9",
    what: "[dist] boosted LeNet-4: three LeNet-4 trained in turn on filtered sets, added",
    args: ["--distort", "--seed", String(seed)],
    task: "boost",
  })),
  {
    name: "fig9-knn-deslant",
    group: "fig9",
    what: "[deslant] K-NN Euclidean, k = 1..3",
    args: ["--k", "3", "--deslant"],
    task: "knn",
  },
  // The shipped lenet5 model's command, the paper's text as written, and the modern variant (the shipped
  // lenet5-modern model's command).
  {
    name: "lenet5-seed0",
    group: "today",
    what: "the default lenet5 recipe, seed 0 (the shipped model)",
    args: ["--seed", "0"],
  },
  {
    name: "appc-literal",
    group: "today",
    what: "lenet5 as the paper's text reads (init +-2.4/F_i, fresh h_kk each pass, mu 0.02, j = 0.1)",
    args: ["--preset", "lenet5-literal"],
  },
  {
    name: "today-modern",
    group: "today",
    what: "lenet5-modern (Adam 0.001 stepped down, batch 32, 10 passes)",
    args: [...MODERN, "--seed", "0"],
  },
  ...seeds(5, "seeds", "default", "the default lenet5 recipe", []),
  ...seeds(3, "distort-seeds", "default-distort", "the default recipe with distortions", ["--distort"]),
  // The paper's mu 0.02 with S2 and S4 starting as averaging.
  ...seeds(10, "avg-mu002-seeds", "avg-mu002", "the default recipe with the paper's mu 0.02", ["--mu", "0.02"]),
  // S2 and S4 drawn like every weight, without and with distortions.
  ...seeds(5, "drawn-seeds", "drawn", "the default recipe with S2 and S4 drawn like every weight", [...DRAWN]),
  ...seeds(3, "drawn-distort-seeds", "drawn-distort", "the same with distortions", [...DRAWN, "--distort"]),
  // mu 0.03 with S2 and S4 drawn, on both kernels and with distortions.
  ...seeds(5, "mu003-seeds", "mu003", "the default recipe with mu 0.03", [...MU003]),
  ...seeds(5, "mu003-js-seeds", "mu003-js", "the default recipe with mu 0.03 on the JS kernels", [...JS, ...MU003]),
  ...seeds(3, "mu003-distort-seeds", "mu003-distort", "the same with distortions", [...JS, ...MU003, "--distort"]),
  // Seeds 5-19 of three of them, to compare them on twenty seeds.
  ...seeds(15, "more-seeds", "default", "the default lenet5 recipe", [], 5),
  ...seeds(15, "more-seeds", "drawn", "the default recipe with S2 and S4 drawn like every weight", [...DRAWN], 5),
  ...seeds(15, "more-seeds", "mu003", "the default recipe with mu 0.03", [...MU003], 5),
  // The paper's mu 0.02 with S2 and S4 drawn, on the JS kernels.
  ...seeds(5, "mu002-seeds", "mu002", "the default recipe with mu 0.02", [...MU002]),
  ...seeds(3, "mu002-distort-seeds", "mu002-distort", "the same with distortions", [...MU002, "--distort"]),
  // h_kk estimated on 100 patterns before each pass, as the authors' later library did.
  ...push("samples100", "h_kk from 100 patterns", [...JS, ...MU003, "--curvature-samples", "100"]),
  // h_kk from the MSE criterion's curvature (E = y_D), the MAP loss giving the gradients.
  ...push("mse-curvature", "h_kk from the MSE criterion", [...MU003, "--curvature-loss", "mse-rbf"]),
  // A new pattern order every pass instead of one fixed order.
  ...push("shuffle", "a new pattern order every pass", [...MU003, "--shuffle"]),
  // The screening: variants on seeds 0 and 2 first (where mu 0.03 ended highest), on all five if they helped.
  ...screen("push-mu005", "the default recipe with mu 0.05", [...DRAWN, "--mu", "0.05"], [0, 2, 1, 4]),
  ...screen("push-eta15", "the mu 0.03 recipe with every eta x1.5", [...MU003, "--eta-scale", "1.5"], [0, 2]),
  ...screen("push-samples2000", "the mu 0.03 recipe with h_kk from 2,000 patterns", [
    ...MU003,
    "--curvature-samples",
    "2000",
  ], [0, 2]),
  ...screen("push-j5", "the mu 0.03 recipe with j = 5", [...MU003, "--j", "5"], [0, 2, 1, 3, 4]),
  ...screen("push-j20", "the mu 0.03 recipe with j = 20", [...MU003, "--j", "20"], [0, 2]),
  ...screen("push-j3", "the mu 0.03 recipe with j = 3", [...MU003, "--j", "3"], [0, 2]),
  ...screen("push-mu02", "the default recipe with mu 0.2", [...DRAWN, "--mu", "0.2"], [0, 2]),
  ...mu01("shuffle", "a new order every pass", ["--shuffle"], [0, 1, 2, 3, 4]),
  ...mu01("mem0", "a fresh h_kk each pass", ["--curvature-memory", "0"], [0, 2]),
  ...mu01("j5", "j = 5", ["--j", "5"], [0, 2]),
  ...mu01("running", "h_kk also a running average (rate 0.0002)", ["--curvature-rate", "0.0002"], [0, 2]),
  ...mu01("mem095", "0.95 of h_kk kept", ["--curvature-memory", "0.95"], [0, 2, 1, 3, 4]),
  ...mu01("mem08", "0.8 of h_kk kept", ["--curvature-memory", "0.8"], [0, 2]),
  ...mu01("mem1", "pass 1's h_kk kept throughout", ["--curvature-memory", "1"], [0, 2]),
  recipe("literal", "lenet5 as the paper's text reads (init +-2.4/F_i, fresh h_kk each pass, j = 0.1)", LITERAL),
  recipe("sqrt", "the same with init +-2.4/sqrt(F_i)", SQRT),
  recipe("sqrt-eta02", "the same with the eta schedule x0.2", [...SQRT, "--eta-scale", "0.2"]),
  recipe(
    "sqrt-mem09",
    "init +-2.4/sqrt(F_i), 0.9 of h_kk kept each pass, mu 0.02, j = 0.1",
    [...JS, ...DRAWN, "--j", "0.1", "--mu", "0.02"],
  ),
  recipe("default", `the default: ${LENET5_SETTINGS}`, [], "default-seed0"),
  recipe(
    "distort",
    "init +-2.4/sqrt(F_i), fresh h_kk, eta x0.2, distortions",
    [...SQRT, "--eta-scale", "0.2", "--distort"],
  ),
  recipe("default-distort", "the default with distortions", ["--distort"], "default-distort-seed0"),
  // Three times the updates: each eta of the paper's schedule lasts three passes, and 0.965^3 = 0.9 of h_kk is kept
  // over three re-estimates, as 0.9 over one in the 20-pass recipe.
  recipe(
    "distort-long",
    "the same with mu 0.02 over 60 passes, each eta three times as long, 0.965 of h_kk kept",
    [...JS, ...DRAWN, "--distort", "--epochs", "60", "--curvature-memory", "0.965", "--mu", "0.02", ...LONG_SCHEDULE],
  ),
  recipe("modern", "lenet5-modern (Adam 0.001 stepped down, batch 32, 10 passes)", MODERN),
  recipe(
    "modern-sgd",
    "lenet5-modern, SGD lr 0.1, batch 128, 2,500 steps, new order each pass",
    [...MODERN, "--optimizer", "sgd", "--lr", "0.1", "--batch", "128", "--steps", "2500", "--shuffle"],
  ),
];

/** A finished run as kept in docs/runs/NAME.json. */
export interface RunRecord {
  readonly name: string;
  readonly what: string;
  readonly command: string;
  /** The summary.json fields the tables need, as the run wrote them. */
  readonly seed: number;
  readonly passesDone: number;
  readonly passesPlanned: number;
  readonly testError: number;
  /** A K-NN run's test error with k = 1, 2, ... neighbours (`testError` is the last). */
  readonly testErrorByK?: readonly number[];
  /** For a run of Fig. 9: the share of the test set it rejects, least sure first, for 0.5% error on the rest. */
  readonly rejectedFor05?: number;
  readonly trainError: number | null;
  readonly wallSeconds: number | null;
  readonly machine?: unknown;
  /** Where `commit` and `date` come from when the run itself was not stamped (the commit that added the record). */
  readonly stamp?: string;
  /** The commit the run started from (`+changes`: with uncommitted changes), and the day it started (UTC). */
  readonly commit?: string;
  readonly date?: string;
  /** A run without a per-pass record: its table numbers only. */
  readonly legacy?: {
    readonly note: string;
    readonly best: [number, number | null];
    readonly during19?: number;
    readonly stepsPass1?: [number, number];
  };
  readonly passes: readonly {
    pass: number;
    lr: number;
    loss: number;
    trainError: number;
    runningError?: number;
    testError: number;
    seconds: number;
    stepRange?: [number, number];
  }[];
}

const root = new URL("..", import.meta.url).pathname;
const dirOf = (r: Recipe) => join(root, "runs", `reproduce-${r.name}`);
const recordPath = (name: string) => join(root, "docs", "runs", `${name}.json`);
const commandOf = (r: Recipe) => [`deno task ${r.task ?? "train"}`, ...r.args].join(" ");

async function readJson<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

interface Summary {
  seed: number;
  passesDone: number;
  settings: { passes: number };
  testError: number;
  trainError: number;
  wallSeconds: number;
  machine?: unknown;
  passes: RunRecord["passes"];
  testErrorByK?: number[];
  rejectedFor05?: number;
}

/** Where a run came from, kept beside its folder when it starts: commit, day and CPU. */
interface Provenance {
  readonly commit: string;
  readonly date: string;
  readonly cpu: string | null;
}
const provenancePath = (r: Recipe) => `${dirOf(r)}.provenance.json`;

async function run(recipe: Recipe, quiet = false): Promise<void> {
  if (recipe.alias) return run(RECIPES.find((r) => r.name === recipe.alias)!, quiet);
  const dir = dirOf(recipe);
  const done = await readJson<Summary>(join(dir, "summary.json"));
  if (done && done.passesDone === done.settings.passes) return;
  if (!done) {
    const p: Provenance = {
      commit: await commitNow(),
      date: new Date().toISOString().slice(0, 10),
      cpu: await cpuModel(),
    };
    await Deno.mkdir(join(root, "runs"), { recursive: true });
    await Deno.writeTextFile(provenancePath(recipe), JSON.stringify(p) + "\n");
  }
  const task = recipe.task ?? "train";
  const args = done ? ["--resume", dir] : [...recipe.args, "--out", dir];
  console.log(`\n== ${recipe.name}: deno task ${task} ${args.join(" ")}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      ...(task === "boost" ? ["--allow-run"] : []),
      join(root, "cli", `${task}.ts`),
      ...args,
      ...(quiet && task === "train" ? ["--quiet"] : []),
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const status = await child.status;
  if (!status.success) throw new Error(`Recipe ${recipe.name} failed (exit ${status.code})`);
}

/** Turns the finished runs under runs/ into records under docs/runs/ (a record is replaced by a newer finished run). */
async function record(): Promise<void> {
  const cpu = await cpuModel();
  await Deno.mkdir(join(root, "docs", "runs"), { recursive: true });
  for (const r of RECIPES.filter((r) => !r.alias)) {
    const s = await readJson<Summary>(join(dirOf(r), "summary.json"));
    if (!s || s.passesDone !== s.settings.passes) continue;
    const p = await readJson<Provenance>(provenancePath(r));
    const rec: RunRecord = {
      name: r.name,
      what: r.what,
      command: commandOf(r),
      seed: s.seed,
      passesDone: s.passesDone,
      passesPlanned: s.settings.passes,
      testError: s.testError,
      ...(s.testErrorByK ? { testErrorByK: s.testErrorByK } : {}),
      ...(s.rejectedFor05 !== undefined
        ? { rejectedFor05: s.rejectedFor05 }
        : r.group === "fig9" && !r.task
        ? { rejectedFor05: await rejectedFor05(join(dirOf(r), "model.json")) }
        : {}),
      trainError: s.trainError,
      wallSeconds: s.wallSeconds,
      machine: { ...(s.machine as object ?? {}), ...(p?.cpu ?? cpu ? { cpu: p?.cpu ?? cpu } : {}) },
      ...(p ? { commit: p.commit, date: p.date } : {}),
      passes: s.passes.map(({ pass, lr, loss, trainError, runningError, testError, seconds, stepRange }) => ({
        pass,
        lr,
        loss,
        trainError,
        ...(runningError !== undefined ? { runningError } : {}),
        testError,
        seconds,
        ...(stepRange ? { stepRange } : {}),
      })),
    };
    const tmp = recordPath(r.name) + ".tmp-reproduce";
    await Deno.writeTextFile(tmp, JSON.stringify(rec, null, 2) + "\n");
    await Deno.rename(tmp, recordPath(r.name));
  }
}

const pct = (x: number | null | undefined) => (typeof x === "number" ? `${(100 * x).toFixed(2)}%` : "-");
/** A table cell: the test error after pass 20, after pass 1 in brackets. */
const errorsCell = (r: RunRecord | undefined) => r ? `${pct(r.testError)} (${pct(r.passes[0]?.testError)})` : "-";
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** The sample standard deviation. */
const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
/** The best test error and its pass (null: not known). */
const best = (rec: RunRecord): { testError: number; pass: number | null } =>
  rec.legacy
    ? { testError: rec.legacy.best[0], pass: rec.legacy.best[1] }
    : rec.passes.reduce((a, b) => (b.testError < a.testError ? b : a), rec.passes[0]);
const bestText = (rec: RunRecord) => {
  const b = best(rec);
  return b.pass === null ? pct(b.testError) : `${pct(b.testError)} (${b.pass})`;
};
/** The paper measured its training error on the fly: pass 19's running error is its 0.35%. */
const during19 = (rec: RunRecord) =>
  rec.legacy
    ? rec.legacy.during19
    : rec.passesPlanned === 20
    ? rec.passes.find((p) => p.pass === 19)?.runningError
    : undefined;
const minutes = (rec: RunRecord) => (rec.wallSeconds === null ? "-" : `${(rec.wallSeconds / 60).toFixed(0)} min`);
const mark = (rec: RunRecord) => (rec.legacy ? " *" : "");
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const head = (cells: string[]) => [row(cells), row(cells.map(() => "---"))];

/** The Markdown table of one group, from the records that exist. */
export function table(group: Group, records: ReadonlyMap<string, RunRecord>): string {
  if (group === "fig9") return fig9Table(records);
  const shown = RECIPES.filter((r) => r.group === group && records.has(r.alias ?? r.name));
  const recs = shown.map((r) => records.get(r.alias ?? r.name)!);
  if (!recs.length) return "(no run recorded yet)";
  const legacy = recs.some((r) => r.legacy)
    ? "\n\n\\* measured in an earlier stop, before runs were recorded: the table's numbers only, no per-pass history."
    : "";
  if (group === "screen") return screenTable(shown, records);
  if (group === "ablation") return ablationTable(records);
  if (group === "more-seeds") return moreSeedsTable(shown, records);
  if (group.endsWith("seeds")) {
    const lines = head([
      "seed",
      "test error after pass 1",
      "test error after pass 20",
      "best test error (pass)",
      "training error during pass 19",
      "training error after pass 20",
      "wall time",
    ]);
    for (const r of recs) {
      lines.push(row([
        `${r.seed}${mark(r)}`,
        pct(r.passes[0]?.testError),
        pct(r.testError),
        bestText(r),
        pct(during19(r)),
        pct(r.trainError),
        minutes(r),
      ]));
    }
    const all = (f: (r: RunRecord) => number | null | undefined) => {
      const xs = recs.map(f).filter((x): x is number => typeof x === "number");
      return xs.length === recs.length ? pct(mean(xs)) : "-";
    };
    lines.push(row([
      `**mean of ${recs.length}**`,
      all((r) => r.passes[0]?.testError),
      `**${all((r) => r.testError)}**`,
      all((r) => best(r).testError),
      all(during19),
      all((r) => r.trainError),
      "",
    ]));
    if (group.startsWith("fresh")) {
      const spread = (xs: number[]) => `sd ${pct(sd(xs))}; ${pct(Math.min(...xs))} .. ${pct(Math.max(...xs))}`;
      const p1 = recs.map((r) => r.passes[0].testError), end = recs.map((r) => r.testError);
      lines.push(row(["spread (sd; range)", spread(p1), spread(end), "", "", "", ""]));
    }
    return lines.join("\n") + legacy;
  }
  const lines = head([
    "recipe",
    "command",
    "passes",
    "training error",
    "training error during pass 19",
    "test error",
    "best test error (pass)",
    "SDLM steps, pass 1",
    "wall time",
  ]);
  for (const [i, r] of recs.entries()) {
    const range = r.legacy ? r.legacy.stepsPass1 : r.passes[0]?.stepRange;
    const steps = range?.map((x) => x.toExponential(1)).join(" .. ") ?? "-";
    lines.push(row([
      `${shown[i].what}${mark(r)}`,
      `\`${commandOf(shown[i])}\``,
      r.passesDone,
      pct(r.trainError),
      pct(during19(r)),
      pct(r.testError),
      bestText(r),
      steps,
      minutes(r),
    ]));
  }
  return lines.join("\n") + legacy;
}

/** The rule of the ablation: a deviation stays when undoing it raises the mean test error over seeds 0-9 by this much. */
export const KEEP_IF_MEAN_RISES = 0.0005;
/** ... or when undoing it leaves the test error after pass 1 at this or more on some seed. */
export const PASS1_LIMIT = 0.03;

/** What the ablation's rule says of one deviation, from its runs on seeds 0-9 (null: not all of them recorded). */
export function ablationVerdict(
  name: string,
  records: ReadonlyMap<string, RunRecord>,
): { keep: boolean; why: string; mean?: number; rise?: number } | null {
  const seedList = Array.from({ length: ABLATION_SEEDS }, (_, s) => s);
  const full = seedList.map((s) => records.get(`appc-${name}-seed${s}`));
  const pass1 = seedList.map((s, i) => (full[i] ?? records.get(`appc-${name}-pass1-seed${s}`))?.passes[0]?.testError);
  const missed = pass1.findIndex((e) => e !== undefined && e >= PASS1_LIMIT);
  const learns = missed < 0 ? "" : `pass 1 at ${pct(pass1[missed])} on seed ${missed}`;
  const ablation = ABLATIONS.find((a) => a.name === name);
  if (!ablation) throw new RangeError(`No ablation is named "${name}": ${ABLATIONS.map((a) => a.name).join(", ")}`);
  const base = seedList.map((s) => records.get(`${ablation.base}-seed${s}`));
  if (full.some((r) => !r) || base.some((r) => !r)) return learns ? { keep: true, why: learns } : null;
  const m = mean(full.map((r) => r!.testError)), rise = m - mean(base.map((r) => r!.testError));
  const against = ablation.base === "appc" ? "" : " over the mu 0.02 runs";
  const why = [`mean ${rise >= 0 ? "+" : ""}${(100 * rise).toFixed(2)} points${against}`, ...(learns ? [learns] : [])]
    .join("; ");
  return { keep: learns !== "" || rise >= KEEP_IF_MEAN_RISES, why, mean: m, rise };
}

/**
 * The ablation: the default on seeds 0-9, then each deviation undone alone on the same seeds (test error after pass
 * 20, after pass 1 in brackets), each row's mean, its rise over the default's, the worst pass 1, and what the rule says.
 */
function ablationTable(records: ReadonlyMap<string, RunRecord>): string {
  const seedList = Array.from({ length: ABLATION_SEEDS }, (_, s) => s);
  const lines = head([
    "the default, or one deviation undone",
    ...seedList.map((s) => `seed ${s}`),
    "mean",
    "worst pass 1",
    "the rule says",
  ]);
  const rowOf = (label: string, runs: (RunRecord | undefined)[], verdict: string) => {
    const done = runs.filter((r): r is RunRecord => r !== undefined && r.passesDone === 20);
    const p1 = runs.flatMap((r) => (r ? [r.passes[0].testError] : []));
    const cells = runs.map((r) => (r && r.passesDone < 20 ? `(${pct(r.passes[0]?.testError)})` : errorsCell(r)));
    const m = done.length === runs.length ? `**${pct(mean(done.map((r) => r.testError)))}**` : "-";
    lines.push(row([label, ...cells, m, p1.length ? pct(Math.max(...p1)) : "-", verdict]));
  };
  rowOf("the default", seedList.map((s) => records.get(`appc-seed${s}`)), "");
  for (const a of ABLATIONS) {
    const runs = seedList.map((s) =>
      records.get(`appc-${a.name}-seed${s}`) ?? records.get(`appc-${a.name}-pass1-seed${s}`)
    );
    const v = ablationVerdict(a.name, records);
    rowOf(`${a.what}: \`${a.args.join(" ")}\``, runs, v ? `${v.keep ? "keep" : "drop"} (${v.why})` : "-");
  }
  return lines.join("\n");
}

/**
 * The screening table: one row per variant after three reference rows (the default; `--init paper-sqrt`, S2 and S4
 * drawn, which every variant here changes one thing of; and that one with mu 0.03), a column per seed with the test
 * error after pass 20 (after pass 1 in brackets), the variant's mean over the seeds it ran, and the two reference
 * recipes' means on those seeds.
 */
function screenTable(shown: readonly Recipe[], records: ReadonlyMap<string, RunRecord>): string {
  const seedsShown = [...new Set(shown.map(seedOf))].sort();
  const bySeed = (group: Group) =>
    new Map(RECIPES.filter((r) => r.group === group).map((r) => [seedOf(r), records.get(r.name)]));
  const current = { label: "(the default)", runs: bySeed("seeds") };
  const refs = [
    { label: "`--init paper-sqrt` (the default before)", runs: bySeed("drawn-seeds") },
    { label: "`--init paper-sqrt --mu 0.03`", runs: bySeed("mu003-seeds") },
  ];
  const lines = head([
    "flags after `deno task train`",
    ...seedsShown.map((s) => `seed ${s}`),
    "mean",
    "`--init paper-sqrt`'s mean on the same seeds",
    "`--init paper-sqrt --mu 0.03`'s mean on the same seeds",
  ]);
  const meanOf = (rs: (RunRecord | undefined)[]) =>
    rs.every((r): r is RunRecord => r !== undefined) ? pct(mean(rs.map((r) => r.testError))) : "-";
  for (const ref of [current, ...refs]) {
    const runs = seedsShown.map((s) => ref.runs.get(s));
    lines.push(row([ref.label, ...runs.map(errorsCell), meanOf(runs), "", ""]));
  }
  for (const variant of new Set(shown.map(variantOf))) {
    const runs = shown.filter((r) => variantOf(r) === variant).map((r) => ({
      seed: seedOf(r),
      rec: records.get(r.name)!,
    }));
    const recipe = shown.find((r) => variantOf(r) === variant)!;
    const flags = recipe.args.slice(0, recipe.args.indexOf("--seed")).join(" ");
    lines.push(row([
      `\`${flags}\``,
      ...seedsShown.map((s) => errorsCell(runs.find((r) => r.seed === s)?.rec)),
      `**${meanOf(runs.map((r) => r.rec))}**`,
      ...refs.map((ref) => meanOf(runs.map((r) => ref.runs.get(r.seed)))),
    ]));
  }
  return lines.join("\n");
}

/**
 * The default, S2 and S4 drawn (`drawn`) and that one with mu 0.03 on seeds 5-19, seed by seed (test error after pass 20, after pass 1 in brackets), then the means over seeds 0-4, 5-9, 10-19,
 * 0-9 and 0-19 (each where the recipe has every seed).
 */
function moreSeedsTable(shown: readonly Recipe[], records: ReadonlyMap<string, RunRecord>): string {
  const prefixes = ["default", "drawn", "mu003"];
  const lines = head([
    "seed",
    "the default",
    "`--init paper-sqrt` (the default before)",
    "`--init paper-sqrt --mu 0.03`",
    "the default minus the one before",
  ]);
  const rec = (prefix: string, s: number) => records.get(`${prefix}-seed${s}`);
  const diff = (a: number[], b: number[]) => {
    const d = mean(a) - mean(b);
    return `${d > 0 ? "+" : ""}${(100 * d).toFixed(2)}%`;
  };
  for (const s of new Set(shown.map(seedOf))) {
    const [a, b, c] = prefixes.map((p) => rec(p, s));
    const d = a && b ? diff([a.testError], [b.testError]) : "-";
    lines.push(row([s, errorsCell(a), errorsCell(b), errorsCell(c), d]));
  }
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const errors = (prefix: string, seeds: number[]) => seeds.map((s) => rec(prefix, s)?.testError ?? NaN);
  const complete = (xs: number[]) => !xs.some(Number.isNaN);
  for (const [from, to] of [[0, 4], [5, 9], [10, 19], [0, 9], [0, 19]]) {
    const seeds = range(from, to), [a, b, c] = prefixes.map((p) => errors(p, seeds));
    if (![a, b, c].some(complete)) continue;
    const meanOf = (xs: number[]) => complete(xs) ? pct(mean(xs)) : "-";
    const d = complete(a) && complete(b) ? diff(a, b) : "-";
    lines.push(row([`**mean of seeds ${from}-${to}** (${seeds.length})`, `**${meanOf(a)}**`, meanOf(b), meanOf(c), d]));
  }
  return lines.join("\n");
}

/**
 * The documents whose `<!-- table:GROUP -->` blocks are rewritten: today's recipe, the log of what was tried, and the
 * paper's comparison (with its chart, docs/fig9.svg).
 */
const DOCS = ["results.md", "log.md", "fig9.md"].map((f) => join(root, "docs", f));

/**
 * Rewrites every `<!-- table:GROUP -->` ... `<!-- /table -->` block of docs/results.md and docs/log.md (a group may
 * sit in either), and results.md's `<!-- deviations -->` block from the lenet5 preset's data.
 */
async function writeTables(): Promise<void> {
  const records = new Map<string, RunRecord>();
  for (const r of RECIPES) {
    const rec = await readJson<RunRecord>(recordPath(r.name));
    if (rec) records.set(r.name, rec);
  }
  const shown = new Set<string>();
  for (const path of DOCS) {
    const text = await Deno.readTextFile(path);
    let out = text.replace(
      /(<!-- table:([a-z0-9-]+) -->)[\s\S]*?(<!-- \/table -->)/g,
      (_m, open: string, group: string, close: string) => {
        shown.add(group);
        return `${open}\n\n${table(group as Group, records)}\n\n${close}`;
      },
    );
    if (path.endsWith("results.md")) out = withDeviations(out, deviationsTable(PRESETS.lenet5.deviations ?? []));
    if (out !== text) {
      await Deno.writeTextFile(path + ".tmp-reproduce", out);
      await Deno.rename(path + ".tmp-reproduce", path);
    }
  }
  const chart = join(root, "docs", "fig9.svg");
  await Deno.writeTextFile(chart + ".tmp-reproduce", fig9Chart(records));
  await Deno.rename(chart + ".tmp-reproduce", chart);
  const missing = [...new Set(RECIPES.map((r) => r.group))].filter((g) => !shown.has(g));
  if (missing.length) console.error(`No <!-- table:GROUP --> block in docs/ for ${missing.join(", ")}`);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    options: { table: { type: "boolean" }, list: { type: "boolean" }, jobs: { type: "string", default: "1" } },
    allowPositionals: true,
  });
  if (values.list) {
    for (const r of RECIPES) console.log(`${r.name.padEnd(24)} ${commandOf(r)}`);
    Deno.exit(0);
  }
  // `fig9`: every recipe of the paper's comparison.
  const named = positionals.flatMap((p) =>
    p === "fig9" ? RECIPES.filter((r) => r.group === "fig9").map((r) => r.name) : [p]
  );
  const unknown = named.filter((p) => !RECIPES.some((r) => r.name === p));
  if (unknown.length) {
    console.error(`Unknown recipe ${unknown.join(", ")}; recipes: ${RECIPES.map((r) => r.name).join(", ")}`);
    Deno.exit(2);
  }
  const jobs = Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(`Option --jobs must be a whole number >= 1, got "${values.jobs}"`);
    Deno.exit(2);
  }
  if (!values.table) {
    // --jobs N: N runs at a time (each on one thread, without its progress line), in the order given.
    const queue = named.length ? named.map((p) => RECIPES.find((r) => r.name === p)!) : [...RECIPES];
    const worker = async () => {
      for (let r = queue.shift(); r; r = queue.shift()) await run(r, jobs > 1);
    };
    await Promise.all(Array.from({ length: jobs }, worker));
  }
  await record();
  await writeTables();
  // The tables' column widths and the records' layout as `deno fmt` (and so `deno task ok`) wants them.
  const formatted = [...DOCS, join(root, "docs", "fig9.svg"), join(root, "docs", "runs")];
  await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", ...formatted] }).output();
  console.log("docs/results.md, docs/log.md, docs/fig9.md and docs/fig9.svg: tables rewritten from docs/runs/*.json");
}
