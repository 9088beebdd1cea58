/**
 * `deno task train`'s flags: the help text, the option table, and the flags
 * read into a run's settings, each checked by the rule its checkpoint field
 * follows too. The settings an optimizer owns (SDLM's curvature) come from
 * its plugin's `options`: their flags, help lines and checks.
 *
 * @module
 */
import { defaultRegistry } from "../builtins.ts";
import { DEFAULT_DISTORTION } from "../data/distort.ts";
import { INIT_NAMES } from "../engine/init.ts";
import { batchProblem } from "../engine/limits.ts";
import { buildModel, type GraphSpec, type Model } from "../engine/model.ts";
import { isModelFile, modelFromJSON, readJSONFile } from "../engine/model_file.ts";
import type { OptimizerSpec } from "../engine/train.ts";
import type { OptimizerOption, Rule } from "../engine/types.ts";
import { DEFAULT_MAP_J } from "../losses/map.ts";
import { DEFAULT_SDLM_MU } from "../optim/sdlm.ts";
import { activeDeviations, getPreset, LENET5_J, LENET5_MU, LENET5_SETTINGS, PRESETS } from "../presets/presets.ts";
import type { Preset } from "../presets/presets.ts";
import { type RunSettings, splitOptimizer } from "../presets/recipe.ts";
import { kernelsOption, OptionError } from "./_command.ts";
import { NUMBER_SETTINGS, optionRule, prefixErrors } from "./_run.ts";

/** Flags of the settings the registered optimizers own, with the optimizer that owns each. */
const OWNED = defaultRegistry.optimizers.types().flatMap((type) =>
  (defaultRegistry.optimizers.get(type).options ?? []).map((option) => ({ type, option }))
);

/** `  --flag ARG  text`, the text wrapped at 88 columns under column 21. */
function helpLine(flag: string, text: string): string {
  const words = text.split(" "), lines: string[] = [];
  let line = flag.length <= 17 ? `  ${flag.padEnd(17)}` : `  ${flag}\n${" ".repeat(19)}`;
  let width = line.length - line.lastIndexOf("\n") - 1;
  for (const word of words) {
    if (width + 1 + word.length > 88 && width > 19) {
      lines.push(line);
      line = " ".repeat(19);
      width = 19;
    }
    line += ` ${word}`;
    width += 1 + word.length;
  }
  return [...lines, line].join("\n");
}

const optionHelp = (o: OptimizerOption) => helpLine(`--${o.flag} ${o.arg}`, o.help);

/** The help text. */
export const HELP = `Usage: deno task train [options]

Trains LeNet-5 on MNIST with the paper's machinery unless told otherwise: C3
table, trainable subsampling, squash, RBF codes, MAP loss, SDLM (curvature from
500 patterns before each pass), the paper's eta schedule, one update per
pattern, 20 passes, fixed random order. Four settings follow our measurements
where the paper's text says otherwise or nothing (--summary lists them with the
flag that undoes each): ${LENET5_SETTINGS}.
--preset lenet5-literal is the paper's text as written.

Model:
  --preset NAME      ${Object.keys(PRESETS).join(", ")} (default lenet5)
  --model FILE       a graph JSON file or a saved model file instead of a preset
  --loss TYPE        replace the loss: map, mse-rbf, softmax-cross-entropy
  --j VALUE          the MAP loss's rubbish-class constant j (lenet5: ${LENET5_J}, lenet5-literal: ${DEFAULT_MAP_J})
  --init NAME        weight init of every layer (lenet5's: paper-sqrt, mean for S2
                     and S4): ${INIT_NAMES.join(", ")}
  --subsample-init NAME
                    init of the subsampling layers (S2, S4) alone, after --init
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
${OWNED.map(({ option }) => optionHelp(option)).join("\n")}
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
                     anything a run did not write is refused unless --force; the run locks it
                     (.lenet5-lock) until it ends: a second command on it fails at once
  --force            write into --out even if it holds other files (they may be overwritten)
  --resume DIR       continue the stopped run in DIR (--epochs may extend it; --quiet and
                     --sequential may be given; any other flag is refused)
  --quiet            no progress line
  -h, --help         show this help
  --version          print the version (from deno.json)
`;

/** The option table of `parseArgs`. */
export const OPTIONS = {
  preset: { type: "string" },
  model: { type: "string" },
  loss: { type: "string" },
  j: { type: "string" },
  init: { type: "string" },
  "subsample-init": { type: "string" },
  summary: { type: "boolean", default: false },
  epochs: { type: "string" },
  batch: { type: "string" },
  optimizer: { type: "string" },
  lr: { type: "string" },
  "eta-scale": { type: "string" },
  schedule: { type: "string" },
  mu: { type: "string" },
  ...Object.fromEntries(OWNED.map(({ option }) => [option.flag, { type: "string" } as const])),
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

/** The flags as `parseArgs` gives them. */
export type Flags = Record<string, string | boolean | undefined>;

/** A numeric run setting from its flag, checked by the rule its checkpoint field follows too (NUMBER_SETTINGS). */
export function settingOption(field: keyof typeof NUMBER_SETTINGS, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return flagValue(NUMBER_SETTINGS[field].flag, NUMBER_SETTINGS[field], value, true) as number;
}

/** `value` of flag `--flag` as `rule` takes it (as a number when `numeric`); an OptionError when it does not. */
function flagValue(flag: string, rule: Rule, value: string, numeric: boolean): unknown {
  const v = !numeric ? value : value.trim() === "" ? NaN : Number(value);
  if (!rule.ok(v)) throw new OptionError(`Option --${flag} must be ${rule.expected}, got "${value}"`);
  return v;
}

/** `--threads N`: 1..64; more threads than cores is allowed (results depend on N only) but warned about. */
function threadsOption(value: string, warn: (message: string) => void): number {
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

/**
 * The settings the run's optimizer owns, from their flags, else from the
 * preset when it trains with the same optimizer, else (for the ones every
 * run holds) the rule's default. A flag of another optimizer is refused.
 */
function ownedOptions(v: Flags, optimizer: OptimizerSpec, base: Preset): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  const preset = base.optimizer.type === optimizer.type ? splitOptimizer(base.optimizer, defaultRegistry).options : {};
  for (const { type, option: o } of OWNED) {
    const text = v[o.flag] as string | undefined;
    if (text !== undefined && type !== optimizer.type) {
      throw new OptionError(`Option --${o.flag} is ${type.toUpperCase()}'s; the optimizer here is ${optimizer.type}`);
    }
    if (type !== optimizer.type) continue;
    let value: unknown = preset[o.key] ?? (o.always ? o.fallback : undefined);
    if (text !== undefined) value = flagValue(o.flag, optionRule(o, defaultRegistry), text, o.rule !== "loss");
    if (value !== undefined) options[o.key] = value;
  }
  return options;
}

/**
 * Resolves the flags into run settings (and the starting weights of a saved
 * model, if any); `warn` prints a warning and keeps it for the run's report.
 */
export async function settingsFromFlags(v: Flags, warn: (message: string) => void) {
  const seed = settingOption("seed", (v.seed as string | undefined) ?? "0")!;
  let graph: GraphSpec, source: string, base: Preset, startParams: Float32Array | undefined;
  /** A model of the graph, for the limits that depend on its size (--batch); --loss and --init leave that as it is. */
  let sized: Model;
  if (v.model) {
    const data = await readJSONFile(v.model as string);
    source = v.model as string;
    if (isModelFile(data)) {
      sized = modelFromJSON(data, defaultRegistry, `"${source}"`);
      graph = sized.graph;
      startParams = Float32Array.from(sized.params);
    } else {
      graph = data as GraphSpec;
      // Every field checked before the flags read any.
      sized = prefixErrors(`In "${source}": `, () => buildModel(graph, { registry: defaultRegistry }));
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
  const initOption = (flag: string, value: unknown) => {
    if (INIT_NAMES.includes(value as string)) return value as string;
    throw new OptionError(`Option --${flag} must be one of ${INIT_NAMES.join(", ")}, got "${value}"`);
  };
  if (v.init !== undefined) {
    graph = {
      ...graph,
      init: initOption("init", v.init),
      layers: graph.layers.map(({ init: _i, ...l }) => l as typeof l & { type: string }),
    };
  }
  if (v["subsample-init"] !== undefined) {
    const init = initOption("subsample-init", v["subsample-init"]);
    if (!graph.layers.some((l) => l.type === "subsample")) {
      throw new OptionError("Option --subsample-init applies to subsample layers; this model has none");
    }
    graph = { ...graph, layers: graph.layers.map((l) => l.type === "subsample" ? { ...l, init } : l) };
  }
  const lr = numberOption("lr", v.lr as string);
  const given = scheduleOption(v.schedule as string | undefined);
  if (given && lr !== undefined) {
    throw new OptionError("Options --schedule and --lr both set the learning rate; pass one of them");
  }
  let optimizer = splitOptimizer(base.optimizer, defaultRegistry).optimizer;
  if (v.optimizer !== undefined) optimizer = { type: v.optimizer as string };
  if (lr !== undefined) optimizer = { ...optimizer, lr };
  const mu = numberOption("mu", v.mu as string);
  if (mu !== undefined) {
    if (optimizer.type !== "sdlm") {
      throw new OptionError(`Option --mu is SDLM's; the optimizer here is ${optimizer.type}`);
    }
    optimizer = { ...optimizer, mu };
  }
  const owned = ownedOptions(v, optimizer, base);
  const schedule = given ?? (v.optimizer === undefined && lr === undefined ? base.schedule : undefined);
  const etaScale = numberOption("eta-scale", v["eta-scale"] as string);
  if (etaScale !== undefined && !schedule) {
    const why = base.schedule
      ? "--lr and --optimizer replace the preset's (give one with --schedule)"
      : `preset ${base.name} has none (use --lr or --schedule)`;
    throw new OptionError(`Option --eta-scale scales an eta schedule; ${why}`);
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
    ...(v.threads !== undefined ? { threads: threadsOption(v.threads as string, warn) } : {}),
    kernels: kernelsOption(v.kernels as string | undefined),
    ...owned,
  };
  const deviations = activeDeviations(base, settings);
  return { settings: deviations.length ? { ...settings, deviations } : settings, startParams };
}
