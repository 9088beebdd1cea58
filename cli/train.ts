/**
 * `deno task train`: trains a preset (the faithful LeNet-5 by default) on
 * MNIST, shows progress, and keeps a run folder with the model, a checkpoint
 * to resume from, summary.json and pictures.
 *
 * @module
 */
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { DEFAULT_DISTORTION } from "../data/distort.ts";
import { loadMnist } from "../data/mnist.ts";
import { checkSplitFits, DivergenceError, evaluate, fit, type FitState, type Progress } from "../engine/fit.ts";
import { classificationMetrics, formatMetrics } from "../engine/metrics.ts";
import {
  isModelFile,
  isTemporaryOf,
  modelFromJSON,
  readJSONFile,
  removeStaleTemporaries,
  saveModel,
  writeFileAtomic,
} from "../engine/model_file.ts";
import { buildModel, type GraphSpec, type Model } from "../engine/model.ts";
import { formatSummary } from "../engine/summary.ts";
import { createOptimizer, type OptimizerSpec } from "../engine/train.ts";
import { DEFAULT_MAP_J } from "../losses/map.ts";
import { DEFAULT_SDLM_MU } from "../optim/sdlm.ts";
import { escapeXml } from "../report/svg.ts";
import { INIT_NAMES } from "../engine/init.ts";
import { batchProblem } from "../engine/limits.ts";
import {
  activeDeviations,
  getPreset,
  LENET5_CURVATURE_MEMORY,
  LENET5_J,
  LENET5_MU,
  LENET5_SETTINGS,
  type Preset,
  PRESETS,
} from "../presets/presets.ts";
import {
  misclassified,
  writeCurves,
  writeDigitGrid,
  writeDistortionGrid,
  writeGallery,
  writeIndex,
  writeMetrics,
} from "../report/report.ts";
import { type FolderLock, LOCK_FILE, lockFolder, someNames, taskCommand } from "../data/out_folder.ts";
import { fsError, kernelsOption, OptionError, runCommand } from "./_command.ts";
import {
  checkpointPath,
  fitOptionsOf,
  loadCheckpoint,
  NUMBER_SETTINGS,
  registeredLoss,
  type RunSettings,
  saveCheckpoint,
} from "./_run.ts";

const HELP = `Usage: deno task train [options]

Trains LeNet-5 on MNIST with the paper's machinery unless told otherwise: C3
table, trainable subsampling, squash, RBF codes, MAP loss, SDLM (curvature from
500 patterns before each pass), the paper's eta schedule, one update per
pattern, 20 passes, fixed random order. Five settings follow our measurements
rather than the paper's text (--summary lists them with the flag that undoes
each): ${LENET5_SETTINGS}.
--preset lenet5-literal is the paper's text as written.

Model:
  --preset NAME      ${Object.keys(PRESETS).join(", ")} (default lenet5)
  --model FILE       a graph JSON file or a saved model file instead of a preset
  --loss TYPE        replace the loss: map, mse-rbf, softmax-cross-entropy
  --j VALUE          the MAP loss's rubbish-class constant j (lenet5: ${LENET5_J}, lenet5-literal: ${DEFAULT_MAP_J})
  --init NAME        weight init of every layer (lenet5's: paper-sqrt, mean for S2
                     and S4): ${INIT_NAMES.join(", ")}
  --summary          print the layer table and the recipe, and exit
Training:
  --epochs N         passes over the training set
  --batch N          patterns per update
  --optimizer TYPE   sdlm, sgd or adam (with its default settings)
  --lr X             constant learning rate (replaces the preset's schedule)
  --schedule LIST    eta of each pass, comma-separated, the last repeating; ETAxN
                     lasts N passes (e.g. 0.0001x2,0.00005); replaces the preset's schedule
  --eta-scale X      multiply every eta of the schedule by X (e.g. 0.2)
  --mu X             SDLM's mu, in eta / (mu + h_kk) (lenet5: ${LENET5_MU}; the paper's: ${DEFAULT_SDLM_MU})
  --curvature-samples N
                     patterns SDLM estimates h_kk on before each pass (default 500, the paper's)
  --curvature-rate G update h_kk during the pass too, as a running average over the
                     patterns trained on: h = (1 - G) h + G h_pattern (default 0: held fixed)
  --curvature-every M
                     updates between two running h_kk updates (default 10)
  --curvature-loss TYPE
                     estimate h_kk from this loss's curvature while the model's loss gives
                     the gradients (e.g. mse-rbf: the MSE criterion E = y_D under MAP)
  --curvature-memory M
                     keep the fraction M (0..1) of the last pass's h_kk when SDLM
                     re-estimates it (lenet5: ${LENET5_CURVATURE_MEMORY}; 0: a fresh estimate, the paper's;
                     1: pass 1's throughout)
  --steps N          stop after N updates
  --seed N           seed of the init, the pattern order and the curvature samples (default 0)
  --limit N          train on the first N training patterns (quick runs)
  --data DIR         an MNIST-format folder (e.g. /usr/share/datasets/fashion-mnist)
  --distort          distort every training pattern at random (shift 2 px, scale 10%,
                     squeeze 15%, shear 0.2), as the paper's "with distortions" run
  --shuffle          a new random pattern order every pass (default: one fixed order from
                     the seed, as the paper)
  --threads N        threads sharing each batch and the evaluations (default 1); results
                     depend on the seed and N
  --kernels K        wasm (WebAssembly SIMD kernels), js, or auto (default): wasm where the
                     runtime has WebAssembly SIMD and shared memory, else js; results
                     depend on the seed and the kernels (they agree to about 1e-6)
  --sequential       evaluate each pass before the next starts, on this thread (default:
                     on a second thread while the next pass trains; same weights either way)
Run folder:
  --out DIR          where the run goes (default runs/PRESET-seedN); a folder that holds
                     anything but a run of ours is refused. A run holds the folder's lock
                     (.lenet5-lock) until it ends: a second command on it fails at once
  --force            write into --out even if it holds other files (they may be overwritten)
  --resume DIR       continue the stopped run in DIR (--epochs may extend it; --quiet and
                     --sequential may be given; any other flag is refused)
  --quiet            no progress line
  -h, --help         show this help
  --version          print the version (from deno.json)
`;

const OPTIONS = {
  preset: { type: "string" },
  model: { type: "string" },
  loss: { type: "string" },
  j: { type: "string" },
  init: { type: "string" },
  summary: { type: "boolean", default: false },
  epochs: { type: "string" },
  batch: { type: "string" },
  optimizer: { type: "string" },
  lr: { type: "string" },
  "eta-scale": { type: "string" },
  schedule: { type: "string" },
  mu: { type: "string" },
  "curvature-memory": { type: "string" },
  "curvature-samples": { type: "string" },
  "curvature-rate": { type: "string" },
  "curvature-every": { type: "string" },
  "curvature-loss": { type: "string" },
  steps: { type: "string" },
  seed: { type: "string" },
  limit: { type: "string" },
  data: { type: "string" },
  distort: { type: "boolean", default: false },
  shuffle: { type: "boolean", default: false },
  threads: { type: "string" },
  kernels: { type: "string" },
  sequential: { type: "boolean", default: false },
  out: { type: "string" },
  force: { type: "boolean", default: false },
  resume: { type: "string" },
  quiet: { type: "boolean", default: false },
} as const;

/** Warnings printed while the flags were read, for the run's report (reset by each run). */
let flagWarnings: string[] = [];

/** Prints a warning on stderr and keeps it for the run's report. */
function warn(message: string): void {
  console.warn(message);
  flagWarnings.push(message);
}

/** A numeric run setting from its flag, checked by the rule its checkpoint field follows too (NUMBER_SETTINGS). */
function settingOption(field: keyof typeof NUMBER_SETTINGS, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const rule = NUMBER_SETTINGS[field];
  const v = value.trim() === "" ? NaN : Number(value);
  if (!rule.ok(v)) throw new OptionError(`Option --${rule.flag} must be ${rule.expected}, got "${value}"`);
  return v;
}

/** `--threads N`: 1..64; more threads than cores is allowed (results depend on N only) but warned about. */
function threadsOption(value: string): number {
  const n = settingOption("threads", value)!;
  const cores = navigator.hardwareConcurrency;
  if (n > cores) {
    warn(`warning: --threads ${n} is more than the ${cores} cores here: the threads will take turns (slower)`);
  }
  return n;
}

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = Number(value);
  if (!Number.isFinite(v) || v <= 0) throw new OptionError(`Option --${name} must be a number > 0, got "${value}"`);
  return v;
}

/** `--schedule 0.0001,0.0001,0.00005` or `0.0001x2,0.00005`: eta per pass, all > 0; `ETAxN` lasts N passes. */
function scheduleOption(value: string | undefined): number[] | undefined {
  if (value === undefined) return undefined;
  const etas: number[] = [];
  for (const item of value.split(",")) {
    const [eta, times = "1", ...rest] = item.trim().split("x");
    const v = Number(eta), n = Number(times);
    if (eta === "" || !Number.isFinite(v) || v <= 0 || !Number.isInteger(n) || n < 1 || rest.length) {
      throw new OptionError(
        `Option --schedule must be numbers > 0 separated by commas (eta of pass 1, 2, ...), each optionally ` +
          `followed by xN for N passes (0.0005x2), got "${value}"`,
      );
    }
    for (let i = 0; i < n; i++) etas.push(v);
  }
  return etas;
}

/** A schedule as ETAxN runs: 0.0005x2 0.0002x3 0.0001. */
export function formatSchedule(etas: readonly number[]): string {
  const runs: string[] = [];
  for (let i = 0; i < etas.length;) {
    let j = i;
    while (j < etas.length && etas[j] === etas[i]) j++;
    runs.push(j - i > 1 ? `${etas[i]}x${j - i}` : `${etas[i]}`);
    i = j;
  }
  return runs.join(" ");
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/** Resolves the flags into run settings (and the starting weights of a saved model, if any). */
async function settingsFromFlags(v: Record<string, string | boolean | undefined>) {
  const seed = settingOption("seed", (v.seed as string | undefined) ?? "0")!;
  let graph: GraphSpec, source: string, base: Preset, startParams: Float32Array | undefined;
  /** A model of the graph, for the limits that depend on its size (--batch); --loss and --init leave that as it is. */
  let sized: Model;
  if (v.model) {
    const data = await readJSONFile(v.model as string);
    source = v.model as string;
    if (isModelFile(data)) {
      const m = modelFromJSON(data, defaultRegistry, `"${source}"`);
      sized = m;
      graph = m.graph;
      startParams = Float32Array.from(m.params);
    } else {
      graph = data as GraphSpec;
      try {
        sized = buildModel(graph, { registry: defaultRegistry }); // every field checked before the flags read any
      } catch (e) {
        (e as Error).message = `In "${source}": ${(e as Error).message}`;
        throw e;
      }
    }
    base = graph.loss?.type === "softmax-cross-entropy" ? PRESETS["lenet5-modern"] : PRESETS.lenet5;
  } else {
    base = getPreset((v.preset as string) ?? "lenet5");
    graph = base.graph;
    source = base.name;
    sized = buildModel(graph, { registry: defaultRegistry, kernels: "js" });
  }
  if (v.loss !== undefined) {
    const j = numberOption("j", v.j as string) ??
      (graph.loss.type === "map" ? (graph.loss.j as number | undefined) : undefined) ?? DEFAULT_MAP_J;
    graph = { ...graph, loss: v.loss === "map" ? { type: "map", j } : { type: v.loss as string } };
  } else if (v.j !== undefined) {
    if (graph.loss.type !== "map") {
      throw new OptionError(`Option --j applies to the map loss; this model's loss is ${graph.loss.type}`);
    }
    graph = { ...graph, loss: { ...graph.loss, j: numberOption("j", v.j as string) } };
  }
  if (v.init !== undefined) {
    if (!INIT_NAMES.includes(v.init as string)) {
      throw new OptionError(`Option --init must be one of ${INIT_NAMES.join(", ")}, got "${v.init}"`);
    }
    graph = {
      ...graph,
      init: v.init as string,
      layers: graph.layers.map(({ init: _i, ...l }) => l as typeof l & { type: string }),
    };
  }
  const lr = numberOption("lr", v.lr as string);
  const given = scheduleOption(v.schedule as string | undefined);
  if (given && lr !== undefined) {
    throw new OptionError("Options --schedule and --lr both set the learning rate; pass one of them");
  }
  let optimizer: OptimizerSpec = base.optimizer;
  if (v.optimizer !== undefined) optimizer = { type: v.optimizer as string };
  if (lr !== undefined) optimizer = { ...optimizer, lr };
  const mu = numberOption("mu", v.mu as string);
  if (mu !== undefined) {
    if (optimizer.type !== "sdlm") {
      throw new OptionError(`Option --mu is SDLM's; the optimizer here is ${optimizer.type}`);
    }
    optimizer = { ...optimizer, mu };
  }
  const memoryText = v["curvature-memory"] as string | undefined;
  const curvatureMemory = memoryText === undefined
    ? (optimizer.type === "sdlm" && base.optimizer.type === "sdlm" ? base.curvatureMemory : undefined)
    : settingOption("curvatureMemory", memoryText);
  if (memoryText !== undefined) {
    if (optimizer.type !== "sdlm") {
      throw new OptionError(`Option --curvature-memory is SDLM's; the optimizer here is ${optimizer.type}`);
    }
  }
  const curvatureSamples = settingOption("curvatureSamples", v["curvature-samples"] as string);
  if (curvatureSamples !== undefined && optimizer.type !== "sdlm") {
    throw new OptionError(`Option --curvature-samples is SDLM's; the optimizer here is ${optimizer.type}`);
  }
  const curvatureRate = settingOption("curvatureRate", v["curvature-rate"] as string);
  const curvatureEvery = settingOption("curvatureEvery", v["curvature-every"] as string);
  if ((curvatureRate !== undefined || curvatureEvery !== undefined) && optimizer.type !== "sdlm") {
    throw new OptionError(
      `Options --curvature-rate and --curvature-every are SDLM's; the optimizer here is ${optimizer.type}`,
    );
  }
  const curvatureLoss = v["curvature-loss"] as string | undefined;
  if (curvatureLoss !== undefined) {
    if (optimizer.type !== "sdlm") {
      throw new OptionError(`Option --curvature-loss is SDLM's; the optimizer here is ${optimizer.type}`);
    }
    const rule = registeredLoss(defaultRegistry);
    if (!rule.ok(curvatureLoss)) {
      throw new OptionError(`Option --curvature-loss must be ${rule.expected}, got "${curvatureLoss}"`);
    }
  }
  const schedule = given ?? (v.optimizer === undefined && lr === undefined ? base.schedule : undefined);
  const etaScale = numberOption("eta-scale", v["eta-scale"] as string);
  if (etaScale !== undefined && !schedule) {
    throw new OptionError(
      `Option --eta-scale scales an eta schedule; ${
        base.schedule
          ? "--lr and --optimizer replace the preset's (give one with --schedule)"
          : `preset ${base.name} has none (use --lr or --schedule)`
      }`,
    );
  }
  const batch = settingOption("batch", v.batch as string) ?? base.batch;
  const batchTooLarge = batchProblem(sized!, batch);
  if (batchTooLarge) throw new OptionError(`Option --batch must be ${batchTooLarge}, got "${v.batch ?? batch}"`);
  const settings: RunSettings = {
    source,
    graph,
    optimizer,
    passes: settingOption("passes", v.epochs as string) ?? base.epochs,
    batch,
    ...(schedule ? { schedule: schedule.map((eta) => Number((eta * (etaScale ?? 1)).toPrecision(12))) } : {}),
    seed,
    ...(v.limit !== undefined ? { limit: settingOption("limit", v.limit as string) } : {}),
    ...(v.steps !== undefined ? { maxSteps: settingOption("maxSteps", v.steps as string) } : {}),
    ...(v.data !== undefined ? { data: v.data as string } : {}),
    ...(v.distort ? { distort: DEFAULT_DISTORTION } : {}),
    ...(v.shuffle ? { shuffle: true } : {}),
    ...(v.threads !== undefined ? { threads: threadsOption(v.threads as string) } : {}),
    kernels: kernelsOption(v.kernels as string | undefined),
    curvatureSamples: curvatureSamples ?? base.curvatureSamples ?? 500,
    ...(curvatureMemory !== undefined ? { curvatureMemory } : {}),
    ...(curvatureRate !== undefined ? { curvatureRate } : {}),
    ...(curvatureEvery !== undefined ? { curvatureEvery } : {}),
    ...(curvatureLoss !== undefined ? { curvatureLoss } : {}),
  };
  const deviations = activeDeviations(base, settings);
  return { settings: deviations.length ? { ...settings, deviations } : settings, startParams };
}

/**
 * The training recipe of a run as text: optimizer, schedule, curvature, and
 * each place it departs from the paper with its reason and the flag that undoes it.
 */
export function formatRecipe(settings: RunSettings): string {
  const o = settings.optimizer;
  const sdlm = o.type === "sdlm";
  const lines = [
    `recipe: ${o.type}${sdlm ? ` (mu ${o.mu ?? DEFAULT_SDLM_MU})` : ""}, ${
      settings.schedule ? `eta ${formatSchedule(settings.schedule)}` : `lr ${o.lr ?? "default"}`
    }, batch ${settings.batch}, ${settings.passes} passes${
      sdlm
        ? `, h_kk from ${settings.curvatureSamples} patterns before each pass${
          settings.curvatureMemory ? `, ${settings.curvatureMemory} of the last pass's h_kk kept` : ""
        }${
          settings.curvatureRate
            ? `, running h_kk update every ${settings.curvatureEvery ?? 10} updates at rate ${settings.curvatureRate}`
            : ""
        }${settings.curvatureLoss ? `, h_kk from the ${settings.curvatureLoss} loss's curvature` : ""}`
        : ""
    }`,
  ];
  const devs = settings.deviations ?? [];
  if (devs.length) {
    lines.push("", "where it departs from the paper's text (the flag after 'undo' restores the paper's reading):");
    const w = Math.max(...devs.map((d) => d.setting.length));
    for (const d of devs) {
      const pad = " ".repeat(w + 2);
      lines.push(`  ${d.setting.padEnd(w)}  paper: ${d.paper}`);
      lines.push(`${pad}  here:  ${d.here}`);
      lines.push(`${pad}  why:   ${d.why}`);
      lines.push(`${pad}  undo:  ${d.literal}`);
    }
  }
  return lines.flatMap((l) => wrap(l, 110)).join("\n");
}

/** A line broken at spaces into lines of at most `width`, continued under its first word after the indent. */
function wrap(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const indent = " ".repeat(line.match(/^\s*(\S+:\s+|\S+\s+\S+:\s+)?/)![0].length);
  const out: string[] = [];
  let rest = line;
  while (rest.length > width) {
    const cut = rest.lastIndexOf(" ", width);
    if (cut <= indent.length) break;
    out.push(rest.slice(0, cut));
    rest = indent + rest.slice(cut + 1);
  }
  return [...out, rest];
}

/** The deviations as an HTML table for index.html. */
function deviationsHtml(devs: RunSettings["deviations"]): string[] {
  if (!devs?.length) return [];
  const rows = devs.map((d) =>
    `<tr><td>${[d.setting, d.paper, d.here, d.why, d.literal].map(escapeXml).join("</td><td>")}</td></tr>`
  );
  return [
    `Where this run departs from the paper's text:</p><table class="deviations"><tr><th>setting</th><th>paper</th><th>here</th>` +
    `<th>why</th><th>flag for the paper's reading</th></tr>${rows.join("")}</table><p>`,
  ];
}

/**
 * Every setting of a run as (name, value) rows of plain text for index.html,
 * absent ones with the default they stand for; `flags` are the command line's.
 */
export function settingsRows(
  settings: RunSettings,
  flags: Record<string, string | boolean | undefined>,
  data: { source: string; trainCount: number },
): [string, string][] {
  const g = settings.graph, o = settings.optimizer;
  const layerInits = g.layers.flatMap((l, i) => l.init ? [`${l.name ?? `${l.type}${i}`}: ${l.init}`] : []);
  const rows: [string, string][] = [
    ["model", settings.source + (g.name && g.name !== settings.source ? ` (${g.name})` : "")],
    ["layers", g.layers.map((l, i) => l.name ?? `${l.type}${i}`).join(" > ")],
    ["loss", JSON.stringify(g.loss)],
    ["init", (g.init ?? "paper") + (layerInits.length ? `; ${layerInits.join(", ")}` : "")],
    ["optimizer", JSON.stringify(o)],
    [
      "eta schedule (per pass, the last repeating)",
      settings.schedule ? formatSchedule(settings.schedule) : "none: the optimizer's lr",
    ],
    ["passes", String(settings.passes)],
    ["batch (patterns per update)", String(settings.batch)],
    ["seed", String(settings.seed)],
    ["data", data.source],
    ["training patterns", settings.limit ? `the first ${settings.limit}` : `all ${data.trainCount}`],
    ["updates at most", settings.maxSteps ? String(settings.maxSteps) : "no limit"],
    ["distortions", settings.distort ? JSON.stringify(settings.distort) : "none"],
    ["pattern order", settings.shuffle ? "a new random order each pass" : "one random order from the seed, every pass"],
    ["threads", String(settings.threads ?? 1)],
    ["kernels", settings.kernels ?? "js"],
    [
      "evaluation",
      flags.sequential ? "after each pass, before the next" : "on a second thread while the next pass trains",
    ],
  ];
  if (o.type === "sdlm") {
    rows.push(
      ["SDLM mu", String(o.mu ?? DEFAULT_SDLM_MU)],
      ["SDLM curvature samples (before each pass)", String(settings.curvatureSamples)],
      ["SDLM curvature memory (of the last pass's h_kk)", String(settings.curvatureMemory ?? 0)],
      [
        "SDLM running curvature update",
        settings.curvatureRate
          ? `rate ${settings.curvatureRate} every ${settings.curvatureEvery ?? 10} updates`
          : "none (h_kk held for the pass)",
      ],
      ["SDLM curvature from the loss", settings.curvatureLoss ?? "the model's own"],
    );
  }
  const given = Object.entries(flags).filter(([, v]) => v !== undefined && v !== false);
  rows.push([
    "command line",
    given.length ? given.map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`)).join(" ") : "(no flags)",
  ]);
  return rows;
}

/**
 * The machine a run's timings come from: cores and Deno; the CPU model where
 * it can be read (Deno reads /proc only with every permission, so a plain
 * `deno task train` leaves it out; `deno task reproduce` adds it).
 */
async function machineInfo(): Promise<{ cpu?: string; cores: number; deno: string }> {
  const info = { cores: navigator.hardwareConcurrency, deno: Deno.version.deno };
  try {
    const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/^model name\s*:\s*(.+)$/m)?.[1];
    return cpu ? { cpu, ...info } : info;
  } catch {
    return info;
  }
}

let peakResident = 0;

/**
 * The highest resident memory of this process seen so far, MB. Deno reads
 * /proc/self only with every permission, so the trainer samples the resident
 * size itself: after loading the data, with every progress report (about
 * once a second) and after every pass.
 */
function samplePeakMB(): number {
  peakResident = Math.max(peakResident, Deno.memoryUsage().rss);
  return Math.round(peakResident / 2 ** 20);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** What a run writes into its folder, beside checkpoint.json. */
const RUN_FILES = [
  "model.json",
  "summary.json",
  "index.html",
  "metrics.txt",
  "confusion.svg",
  "loss.svg",
  "error.svg",
  "digits-before.svg",
  "digits-after.svg",
  "misclassified.svg",
  "distortions.png",
  "checkpoint.json",
];
/** What a run writes before its first checkpoint: a folder holding only these is a run stopped early. */
const EARLY_FILES = ["digits-before.svg", "distortions.png"];

/** Flags a resumed run accepts; every other one would change the run. */
const RESUME_FLAGS = new Set(["resume", "epochs", "quiet", "sequential", "help"]);

/**
 * Makes sure `--out DIR` may be written: a new or empty folder, or one that
 * holds only what a run stopped before its first pass left (with the lock
 * file and our stale temporary files); any other content (a run of ours, or
 * the user's files) is refused unless `force`. Reads, never writes; returns
 * whether the folder exists. Throws OptionError naming the problem.
 */
async function checkOutFolder(dir: string, force: boolean): Promise<boolean> {
  let info: Deno.FileInfo | null = null;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fsError(e, "use", dir, "out");
  }
  if (info && !info.isDirectory) throw new OptionError(`Option --out: "${dir}" is a file, not a folder`);
  if (!info) return false;
  if (!force && await exists(checkpointPath(dir))) {
    throw new OptionError(
      `Run folder "${dir}" already holds a run; pass --resume ${dir} to continue it, --out to choose another ` +
        `folder, or --force to start over in it`,
    );
  }
  const others: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const ours = EARLY_FILES.includes(e.name) || (e.isFile && e.name === LOCK_FILE) ||
      (e.isFile && RUN_FILES.some((n) => isTemporaryOf(e.name, n)));
    if (!ours) others.push(e.name);
  }
  if (!force && others.length) {
    throw new OptionError(
      `Option --out: folder "${dir}" holds ${others.length} file${others.length === 1 ? "" : "s"} that no run ` +
        `of ours wrote (${someNames(others.sort())}); choose another folder, or pass --force to write into it ` +
        `(files a run writes, such as model.json, are overwritten)`,
    );
  }
  return true;
}

/**
 * Takes the lock of the run folder `dir` (made if need be), which the run
 * holds to its end: a second command on the folder fails at once, naming
 * this one. Then `check` runs again, now that no other command of ours can
 * write the folder, and our stale temporary files go.
 */
async function lockRunFolder(dir: string, command: string, check: () => Promise<unknown>): Promise<FolderLock> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw fsError(e, "create the folder", dir, "out");
  }
  const lock = await lockFolder(dir, command);
  try {
    await check();
    await removeStaleTemporaries(dir, RUN_FILES);
  } catch (e) {
    lock.release();
    throw e;
  }
  return lock;
}

/** Runs the command; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCommand(args, OPTIONS, HELP, run);
}

async function run(values: Record<string, string | boolean | undefined>): Promise<number> {
  const registry = defaultRegistry;
  flagWarnings = [];
  let settings: RunSettings, dir: string, fitState: FitState | undefined, wallBefore = 0;
  let model, optimizer;
  using held = new DisposableStack(); // the run folder's lock, held until the run ends
  let lock: FolderLock | undefined;
  const command = taskCommand(
    "train",
    Object.entries(values).flatMap(([k, v]) =>
      v === undefined || v === false ? [] : v === true ? [`--${k}`] : [`--${k}`, v]
    ),
  );
  if (values.resume !== undefined) {
    dir = values.resume as string;
    const extra = Object.entries(values).filter(([k, v]) => v !== undefined && v !== false && !RESUME_FLAGS.has(k));
    if (extra.length) {
      throw new OptionError(
        `Option --resume continues a run with its own settings; ${
          extra.map(([k]) => `--${k}`).join(", ")
        } would change it (only --epochs, --quiet and --sequential may be given with --resume)`,
      );
    }
    const stat = await Deno.stat(dir).catch((e) => {
      throw fsError(e, "resume from", dir, "resume");
    });
    if (!stat.isDirectory) throw new OptionError(`Option --resume: "${dir}" is a file, not a run folder`);
    const passes = settingOption("passes", values.epochs as string);
    const isRun = async () => {
      if (!(await exists(checkpointPath(dir)))) {
        throw new OptionError(`Cannot resume "${dir}": it holds no checkpoint.json (is it a run folder?)`);
      }
    };
    await isRun();
    lock = held.use(await lockRunFolder(dir, command, isRun)); // before the checkpoint is read
    const c = await loadCheckpoint(dir, registry);
    settings = { ...c.settings, passes: passes ?? c.settings.passes };
    ({ model, optimizer } = c);
    fitState = c.fit;
    if (settings.passes < fitState.passesDone) {
      throw new OptionError(
        `Option --epochs: the run in "${dir}" has done ${fitState.passesDone} passes already, got ${settings.passes}`,
      );
    }
    wallBefore = c.wallSeconds;
    console.log(`Resuming ${dir} after pass ${fitState.passesDone} of ${settings.passes}`);
  } else {
    const r = await settingsFromFlags(values);
    settings = r.settings;
    try {
      model = buildModel(settings.graph, { registry, seed: settings.seed, kernels: settings.kernels });
    } catch (e) {
      if (values.model) (e as Error).message = `In "${values.model}": ${(e as Error).message}`;
      throw e;
    }
    if (r.startParams) model.params.set(r.startParams);
    optimizer = createOptimizer(settings.optimizer, model, registry);
    if (values.summary) {
      console.log(formatSummary(model) + "\n\n" + formatRecipe(settings));
      return 0;
    }
    const name = settings.source.replace(/^.*\//, "").replace(/\.json$/, "");
    dir = (values.out as string) ?? join("runs", `${name}-seed${settings.seed}`);
    // An existing folder is locked before the data is read, so a second run on it fails at once; a new one is
    // made only once the data is known to be good.
    if (await checkOutFolder(dir, values.force as boolean)) {
      lock = held.use(await lockRunFolder(dir, command, () => checkOutFolder(dir, values.force as boolean)));
    }
  }

  const data = await loadMnist({ dir: settings.data });
  checkSplitFits(model, data.train, "training images");
  checkSplitFits(model, data.test, "test images");
  if (!lock) lock = held.use(await lockRunFolder(dir, command, () => checkOutFolder(dir, values.force as boolean)));
  // Starting over with --force: the old run's checkpoint goes, so a stop before the first pass cannot resume it.
  if (!fitState && values.force) await Deno.remove(checkpointPath(dir)).catch(() => {});
  samplePeakMB();
  const train = settings.limit ? Math.min(settings.limit, data.train.count) : data.train.count;
  console.log(
    `Data: ${data.source}: ${data.train.count.toLocaleString("en-US")} training (using ${
      train.toLocaleString("en-US")
    }), ${data.test.count.toLocaleString("en-US")} test patterns`,
  );
  const counts = model.counts();
  console.log(
    `Model: ${settings.graph.name ?? settings.source}, ${counts.trainable.toLocaleString("en-US")} parameters; ` +
      `loss ${settings.graph.loss.type}; optimizer ${JSON.stringify(settings.optimizer)}; batch ${settings.batch}; ` +
      `${settings.passes} passes${
        settings.schedule ? ", eta schedule " + formatSchedule(settings.schedule) : ""
      }; seed ${settings.seed}${settings.curvatureMemory ? `; curvature memory ${settings.curvatureMemory}` : ""}${
        settings.shuffle ? "; a new order each pass" : ""
      }${settings.distort ? "; distorted patterns" : ""}`,
  );
  console.log(`Run folder: ${dir}`);

  if (!fitState) {
    const before = evaluate(model, data.test, { limit: 100 });
    await writeDigitGrid(join(dir, "digits-before.svg"), data.test, before.predictions, "Test digits before training");
    if (settings.distort) {
      await writeDistortionGrid(join(dir, "distortions.png"), data.train, settings.distort, settings.seed);
    }
  }

  const tty = Deno.stdout.isTerminal();
  let lastLine = 0;
  const enc = new TextEncoder();
  const onProgress = (p: Progress) => {
    samplePeakMB();
    if (values.quiet) return;
    const line = `pass ${p.pass}/${p.passes}  ${p.done.toLocaleString("en-US")}/${p.total.toLocaleString("en-US")}  ` +
      `${Math.round(p.patternsPerSecond)} patterns/s  ETA ${formatSeconds(p.eta)}  loss ${p.runningLoss.toFixed(4)}  ` +
      `errors ${(100 * p.runningError).toFixed(2)}%`;
    if (tty) Deno.stdout.writeSync(enc.encode(`\r${line}\x1b[K`));
    else if (performance.now() - lastLine > 15_000 || p.done === p.total) {
      lastLine = performance.now();
      console.log(line);
    }
  };

  const machine = await machineInfo();
  const t0 = performance.now();
  const wall = () => wallBefore + (performance.now() - t0) / 1000;
  const writeSummary = async (state: FitState, final: Record<string, unknown> = {}) => {
    const last = state.history[state.history.length - 1];
    const summary = {
      preset: settings.source,
      flags: Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined && v !== false)),
      settings: { ...settings, graph: undefined, graphName: settings.graph.name },
      seed: settings.seed,
      data: data.source,
      parameters: counts.trainable,
      connections: counts.connections,
      wallSeconds: Math.round(wall() * 10) / 10,
      machine,
      peakResidentMB: samplePeakMB(),
      passesDone: state.passesDone,
      testError: last?.testError,
      trainError: last?.trainError,
      deviations: settings.deviations ?? [],
      passes: state.history,
      ...final,
    };
    await writeFileAtomic(join(dir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  };

  const saved = buildModel(settings.graph, { registry, seed: settings.seed, kernels: "js" });
  const result = await fit(model, optimizer, data, {
    ...fitOptionsOf(settings, model, registry),
    threads: settings.threads,
    background: !values.sequential,
    onProgress,
    async onPass(state, testPredictions, snapshot) {
      if (tty && !values.quiet) Deno.stdout.writeSync(enc.encode("\r\x1b[K"));
      const h = state.history[state.history.length - 1];
      const steps = h.stepRange
        ? `  SDLM steps ${h.stepRange[0].toExponential(2)}..${h.stepRange[1].toExponential(2)}`
        : "";
      console.log(
        `pass ${h.pass}: loss ${h.loss.toFixed(4)}  training error ${(100 * h.trainError).toFixed(2)}% ` +
          `(${(100 * (h.runningError ?? NaN)).toFixed(2)}% during the pass)  ` +
          `test error ${(100 * h.testError).toFixed(2)}%  (${h.seconds.toFixed(0)} s, eta ${h.lr})${steps}`,
      );
      const stalled = stalledWarning(h, data.classes, settings);
      if (stalled) console.log(stalled);
      // With the evaluation in the background the model has moved on into the next pass: save the pass's own weights.
      saved.params.set(snapshot.params);
      // The checkpoint first: a folder holding model.json but no checkpoint.json is never ours.
      await saveCheckpoint(dir, settings, saved, { ...optimizer, state: snapshot.optimizerState }, state, wall());
      await saveModel(join(dir, "model.json"), saved);
      const metrics = classificationMetrics(testPredictions, data.test.labels, data.classes);
      await writeMetrics(dir, metrics, formatMetrics(metrics));
      await writeDigitGrid(
        join(dir, "digits-after.svg"),
        data.test,
        testPredictions,
        `Test digits after pass ${h.pass}`,
      );
      await writeCurves(dir, state, train);
      // Class probabilities for the misclassified test digits only, from the pass's own weights.
      const wrong = misclassified(saved, data.test, testPredictions);
      await writeGallery(
        join(dir, "misclassified.svg"),
        data.test,
        wrong.cells,
        wrong.wrong,
        "Misclassified test digits",
      );
      await writeSummary(state, { macroF1: metrics.macroF1 });
      // Every warning printed so far, the stalled-run ones recomputed from the history (a resumed run's too).
      const warnings = [
        ...flagWarnings,
        ...state.history.flatMap((p) => stalledWarning(p, data.classes, settings) ?? []),
      ];
      await writeIndex(dir, `LeNet-5 run: ${settings.source}, seed ${settings.seed}`, state, [
        `Data: ${escapeXml(data.source)}. ${counts.trainable.toLocaleString("en-US")} parameters, loss ${
          escapeXml(settings.graph.loss.type)
        }, ` +
        `optimizer ${escapeXml(settings.optimizer.type)}, batch ${settings.batch}.`,
        `After pass ${h.pass}: test error ${(100 * h.testError).toFixed(2)}%, training error ${
          (100 * h.trainError).toFixed(2)
        }%, macro F1 ${metrics.macroF1.toFixed(4)}.`,
        ...deviationsHtml(settings.deviations),
        ...(settings.distort
          ? [
            `Training patterns distorted at random (${escapeXml(JSON.stringify(settings.distort))}); examples:<br>` +
            `<img src="distortions.png" alt="training digits and random distortions of them" width="512">`,
          ]
          : []),
      ], {
        metrics,
        recipe: formatRecipe({ ...settings, deviations: undefined }), // the deviations have their own table
        settings: settingsRows(settings, values, { source: data.source, trainCount: data.train.count }),
        warnings,
        wallSeconds: wall(),
        gallery: true,
      });
    },
  }, fitState).catch((e) => {
    if (!(e instanceof DivergenceError)) throw e;
    if (tty && !values.quiet) Deno.stdout.writeSync(enc.encode("\r\x1b[K"));
    const kept = e.lastGoodPass
      ? `${join(dir, "model.json")} and checkpoint.json hold the model after pass ${e.lastGoodPass}, untouched`
      : "no model was saved";
    throw new Error(`${e.message} Stopped: ${kept}. Smaller steps (--lr, --eta-scale, --schedule) may help.`);
  });
  const last = result.history[result.history.length - 1];
  if (last) {
    console.log(
      `Done: test error ${(100 * last.testError).toFixed(2)}% after ${last.pass} pass${last.pass === 1 ? "" : "es"}, ${
        formatSeconds(wall())
      } in all. ` +
        `Report: ${join(dir, "index.html")}`,
    );
  }
  return 0;
}

/**
 * The warning printed after a pass whose training error is no better than
 * guessing (at least 95% of 1 - 1/classes), or whose loss is not finite; null
 * otherwise. For SDLM from the specified init it names the recipe that trains.
 */
export function stalledWarning(
  h: { pass: number; trainError: number; loss: number },
  classes: number,
  settings: Pick<RunSettings, "graph" | "optimizer">,
): string | null {
  const chance = 1 - 1 / classes;
  if (Number.isFinite(h.loss) && h.trainError < 0.95 * chance) return null;
  const what = Number.isFinite(h.loss)
    ? `the training error is ${(100 * h.trainError).toFixed(2)}%, no better than guessing (${
      (100 * chance).toFixed(2)
    }% for ${classes} classes)`
    : `the loss is ${h.loss}`;
  const paperInit = [settings.graph.init, ...settings.graph.layers.map((l) => l.init)]
    .every((name) => (name ?? "paper") === "paper");
  const hint = settings.optimizer.type === "sdlm" && paperInit
    ? "With the paper's init (+-2.4/F_i) its first etas are too large: on its schedule seeds 0 and 1 stay here until " +
      "eta falls to 0.00005 and end near 4% after 20 passes, seed 2 stays here (docs/results.md). " +
      `The default recipe (deno task train) trains: ${LENET5_SETTINGS}.`
    : "Smaller steps (--lr, --eta-scale) or another --init may help.";
  return `warning: after pass ${h.pass} ${what}: the network is not learning. ${hint}`;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
