/**
 * A training run's settings and its checkpoint in the run folder.
 *
 * checkpoint.json holds everything a resumed run needs (settings, weights,
 * optimizer state, progress) in one file written atomically, so it can never
 * be half-written or out of step with itself.
 *
 * @module
 */
import { join } from "node:path";
import { checkDistortionRanges } from "../data/distort.ts";
import { MAX_IDX_BYTES } from "../data/idx.ts";
import { type FitState, LOSS_EVERY, type PassResult } from "../engine/fit.ts";
import { batchProblem, grouped } from "../engine/limits.ts";
import { buildModel, type Model } from "../engine/model.ts";
import { integerRule as integer, numberRule as number, show } from "../engine/config.ts";
import { describeNonFinite, firstNonFinite } from "../engine/finite.ts";
import { base64ToFloats, floatsToBase64, readJSONFile, writeFileAtomic } from "../engine/model_file.ts";
import type { Registries } from "../engine/registry.ts";
import { createOptimizer, type Optimizer } from "../engine/train.ts";
import type { OptimizerOption, OptimizerState, Rule } from "../engine/types.ts";
import type { Deviation } from "../presets/presets.ts";
import { type CommonSettings, optimizerSpecOf, optionsOf, type RunSettings } from "../presets/recipe.ts";

/** The `format` field of checkpoint.json. */
export const CHECKPOINT_FORMAT = "lenet5-ts/checkpoint";

/** What checkpoint.json holds. */
export interface Checkpoint {
  readonly format: string;
  readonly version: number;
  readonly settings: RunSettings;
  readonly fit: FitState;
  /** Wall time of all sessions of the run so far, seconds. */
  readonly wallSeconds: number;
  readonly params: string;
  readonly optimizerState: Record<string, { floats: string; count: number } | number>;
}

/** Path of the checkpoint in a run folder. */
export const checkpointPath = (dir: string) => join(dir, "checkpoint.json");

/** Writes the checkpoint atomically. */
export async function saveCheckpoint(
  dir: string,
  settings: RunSettings,
  model: Model,
  optimizer: Pick<Optimizer, "state">,
  fit: FitState,
  wallSeconds: number,
): Promise<void> {
  const optimizerState: Checkpoint["optimizerState"] = {};
  for (const [k, v] of Object.entries(optimizer.state)) {
    optimizerState[k] = typeof v === "number" ? v : { floats: floatsToBase64(v), count: v.length };
  }
  const data: Checkpoint = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    settings,
    fit,
    wallSeconds,
    params: floatsToBase64(model.params),
    optimizerState,
  };
  await writeFileAtomic(checkpointPath(dir), JSON.stringify(data));
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

const text: Rule = { expected: "a string", ok: (v) => typeof v === "string" };

/** A setting a flag gives as a number: its rule, the flag, and whether every run has it. */
export interface NumberSetting extends Rule {
  /** The flag of `deno task train` that sets it, without the dashes. */
  readonly flag: string;
  /** Every run has it (the others are absent when the flag is not given). */
  readonly required?: boolean;
}

/**
 * The numeric settings of a run, by field: one rule for the flag that gives it and for its field in checkpoint.json.
 * `batch` has a second limit that depends on the model (limits.ts `batchProblem`), checked by both too.
 */
export const NUMBER_SETTINGS = {
  passes: { flag: "epochs", required: true, ...integer(1) },
  batch: { flag: "batch", required: true, ...integer(1) },
  seed: { flag: "seed", required: true, ...integer(0) },
  limit: { flag: "limit", ...integer(1) },
  maxSteps: { flag: "steps", ...integer(1) },
  threads: { flag: "threads", ...integer(1, 64) },
} as const satisfies { readonly [K in keyof CommonSettings]?: NumberSetting };

/** A loss type registered in `registry` (SDLM's `--curvature-loss` and `settings.curvatureLoss`). */
function registeredLoss(registry: Registries): Rule {
  return {
    expected: `one of ${registry.losses.types().join(", ")}`,
    ok: (v) => typeof v === "string" && registry.losses.has(v),
  };
}

/** The rule of a setting an optimizer owns (`"loss"`: a loss type registered in `registry`). */
export const optionRule = (o: OptimizerOption, registry: Registries): Rule =>
  o.rule === "loss" ? registeredLoss(registry) : o.rule;

/** The other settings a checkpoint holds that no builder checks, by field: all optional but `source`. */
const OTHER_SETTINGS: { readonly [K in keyof CommonSettings]?: Rule } = {
  source: text,
  data: { expected: "a folder path", ok: (v) => typeof v === "string" },
  shuffle: { expected: "true or false", ok: (v) => typeof v === "boolean" },
  kernels: { expected: '"js" or "wasm"', ok: (v) => v === "js" || v === "wasm" },
  schedule: {
    expected: "a non-empty list of numbers > 0",
    ok: (v) => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number" && Number.isFinite(x) && x > 0),
  },
};

/** The settings a Deviation names (presets/presets.ts); each appears at most once in a run's list. */
const DEVIATION_SETTINGS: Record<Deviation["setting"], true> = {
  init: true,
  subsampleInit: true,
  j: true,
  mu: true,
  curvatureMemory: true,
};

/** The fields of a Deviation. */
const DEVIATION_FIELDS: { readonly [K in keyof Deviation]-?: Rule } = {
  setting: {
    expected: `one of ${Object.keys(DEVIATION_SETTINGS).join(", ")}`,
    ok: (v) => typeof v === "string" && Object.hasOwn(DEVIATION_SETTINGS, v),
  },
  value: { expected: "a string or a finite number", ok: (v) => typeof v === "string" || Number.isFinite(v) },
  paper: text,
  here: text,
  why: text,
  literal: text,
};

const seconds = number("a number of seconds >= 0", (v) => v >= 0);
const share = number("a fraction in 0..1", (v) => v >= 0 && v <= 1);

/** The fields of a pass record (fit.history), and whether every record has it. */
const PASS_FIELDS: { readonly [K in keyof PassResult]-?: Rule & { readonly optional?: boolean } } = {
  pass: integer(1),
  lr: number("a number > 0", (v) => v > 0),
  loss: number("a finite number", () => true),
  trainError: share,
  runningError: { ...share, optional: true },
  testError: share,
  seconds,
  curvatureSeconds: { ...seconds, optional: true },
  evalSeconds: { ...seconds, optional: true },
  stepRange: {
    expected: "[smallest, largest] step, numbers with 0 <= smallest <= largest",
    ok: (v) =>
      Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === "number" && Number.isFinite(x)) &&
      0 <= v[0] && v[0] <= v[1],
    optional: true,
  },
};

/** Throws a TypeError naming the file and the field: `Cannot resume from "p": field "f" must be ..., got v`. */
type Bad = (field: string, expected: string, ...got: unknown[]) => never;

function badField(path: string): Bad {
  return (field, expected, ...got) => {
    throw new TypeError(
      `Cannot resume from "${path}": field "${field}" must be ${expected}${got.length ? `, got ${show(got[0])}` : ""}`,
    );
  };
}

/** Every field of a run's settings but the optimizer's own (a Record, so that a new setting cannot be left out here). */
const SETTINGS_FIELDS: Record<keyof CommonSettings, true> = {
  source: true,
  graph: true,
  optimizer: true,
  passes: true,
  batch: true,
  schedule: true,
  seed: true,
  limit: true,
  maxSteps: true,
  data: true,
  distort: true,
  shuffle: true,
  threads: true,
  kernels: true,
  deviations: true,
};

/** Refuses a field of `record` (at `at`) that is none of `known`: what a run writes has no other. */
function checkKnown(path: string, at: string, record: Record<string, unknown>, known: readonly string[]): void {
  const other = Object.keys(record).find((k) => !known.includes(k));
  if (other !== undefined) {
    throw new TypeError(
      `Cannot resume from "${path}": field "${at ? `${at}.` : ""}${other}" is not a known field; expected ${
        known.map((k) => `"${k}"`).join(", ")
      }`,
    );
  }
}

/** Checks `value` against `rule` (`optional`: absent is fine). */
function checkRule(bad: Bad, field: string, rule: Rule, value: unknown, optional = false): void {
  if (!(optional && value === undefined) && !rule.ok(value)) bad(field, rule.expected, value);
}

/**
 * Checks the fields of checkpoint data that need no model (the settings the flags give, and the shape of the rest);
 * throws a TypeError naming the file and the first bad field.
 */
function checkCheckpoint(data: unknown, path: string, registry: Registries): asserts data is Checkpoint {
  const bad = badField(path);
  if (!isObject(data) || data.format !== CHECKPOINT_FORMAT || data.version !== 1) {
    bad("format", `"${CHECKPOINT_FORMAT}" version 1`);
  }
  const c = data as Record<string, unknown>;
  checkKnown(path, "", c, ["format", "version", "settings", "fit", "wallSeconds", "params", "optimizerState"]);
  const s = c.settings;
  if (!isObject(s)) return bad("settings", "an object", s);
  const owned = registry.optimizers.types().flatMap((type) => optionsOf(type, registry).map((o) => o.key));
  checkKnown(path, "settings", s, [...Object.keys(SETTINGS_FIELDS), ...owned]);
  if (!isObject(s.graph)) bad("settings.graph", "a graph object", s.graph);
  if (!isObject(s.optimizer) || typeof s.optimizer.type !== "string") {
    bad("settings.optimizer", 'an object with a "type"', s.optimizer);
  }
  for (const [field, rule] of Object.entries(NUMBER_SETTINGS) as [string, NumberSetting][]) {
    checkRule(bad, `settings.${field}`, rule, s[field], !rule.required);
  }
  for (const [field, rule] of Object.entries(OTHER_SETTINGS)) {
    checkRule(bad, `settings.${field}`, rule, s[field], field !== "source");
  }
  for (const o of optionsOf((s.optimizer as { type: string }).type, registry)) {
    checkRule(bad, `settings.${o.key}`, optionRule(o, registry), s[o.key], !o.always);
  }
  checkDeviations(bad, path, s.deviations);
  const f = c.fit;
  if (!isObject(f)) return bad("fit", "an object (passesDone, steps, history, lossCurve)", f);
  checkKnown(path, "fit", f, ["passesDone", "steps", "history", "lossCurve"]);
  if (!integer(0).ok(f.passesDone) || (f.passesDone as number) > (s.passes as number)) {
    bad("fit.passesDone", `an integer in 0..${s.passes} (settings.passes)`, f.passesDone);
  }
  if (!Array.isArray(f.history) || f.history.length !== f.passesDone) {
    bad("fit.history", `a list of ${f.passesDone} pass records (fit.passesDone)`, f.history);
  }
  if (!Array.isArray(f.lossCurve)) bad("fit.lossCurve", "a list of points", f.lossCurve);
  checkRule(bad, "wallSeconds", seconds, c.wallSeconds);
  if (typeof c.params !== "string") bad("params", "base64 text");
  const o = c.optimizerState;
  if (!isObject(o)) return bad("optimizerState", "an object", o);
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === "number") continue;
    if (!isObject(v) || typeof v.floats !== "string" || !integer(0).ok(v.count)) {
      bad(`optimizerState.${k}`, 'a number or { "floats": base64, "count": N }');
    }
  }
}

/** settings.deviations: absent, or a list of Deviation records, one per setting at most. */
function checkDeviations(bad: Bad, path: string, devs: unknown): void {
  if (devs === undefined) return;
  const most = Object.keys(DEVIATION_SETTINGS).length;
  if (!Array.isArray(devs) || devs.length > most) {
    bad(
      "settings.deviations",
      `a list of at most ${most} deviations (records of setting, value, paper, here, why, literal)`,
      devs,
    );
  }
  const seen = new Set<unknown>();
  for (const [i, d] of (devs as unknown[]).entries()) {
    const at = `settings.deviations[${i}]`;
    if (!isObject(d)) bad(at, "a record of setting, value, paper, here, why, literal", d);
    const r = d as Record<string, unknown>;
    checkKnown(path, at, r, Object.keys(DEVIATION_FIELDS));
    for (const [field, rule] of Object.entries(DEVIATION_FIELDS)) checkRule(bad, `${at}.${field}`, rule, r[field]);
    if (seen.has(r.setting)) bad(`${at}.setting`, "a setting no earlier deviation names", r.setting);
    seen.add(r.setting);
  }
}

/**
 * The most patterns one pass of the run can present: `settings.limit`, and
 * at most what an idx file within MAX_IDX_BYTES holds of the model's images.
 */
function patternsPerPass(settings: RunSettings, model: Model): number {
  const pad = model.inputPad, shape = model.inputShape;
  const [rows, cols] = shape.length === 3 ? [shape[1], shape[2]] : shape.length === 2 ? shape : [1, 1];
  const pixels = Math.max(1, rows - 2 * pad) * Math.max(1, cols - 2 * pad);
  return Math.min(settings.limit ?? Infinity, Math.floor(MAX_IDX_BYTES / pixels));
}

/**
 * Checks `fit` against what `fit` (engine/fit.ts) records for this run: pass records with every field in range, in
 * order; at most as many updates and running-loss points as its passes can hold (a point per LOSS_EVERY patterns or
 * more).
 */
function checkFitState(bad: Bad, path: string, fit: FitState, settings: RunSettings, model: Model): void {
  const done = fit.passesDone, perPass = patternsPerPass(settings, model);
  const most = Math.min(done * Math.ceil(perPass / settings.batch), settings.maxSteps ?? Infinity);
  if (!integer(0, most).ok(fit.steps)) {
    bad(
      "fit.steps",
      `an integer in 0..${grouped(most)} (updates of ${done} passes of at most ${grouped(perPass)} patterns)`,
      fit.steps,
    );
  }
  for (const [i, h] of (fit.history as unknown[]).entries()) {
    const at = `fit.history[${i}]`;
    if (!isObject(h)) bad(at, "a pass record", h);
    const r = h as Record<string, unknown>;
    checkKnown(path, at, r, Object.keys(PASS_FIELDS));
    if (r.pass !== i + 1) bad(`${at}.pass`, `${i + 1} (its place in the list)`, r.pass);
    for (const [field, rule] of Object.entries(PASS_FIELDS)) {
      checkRule(bad, `${at}.${field}`, rule, r[field], rule.optional);
    }
  }
  const points = fit.lossCurve as unknown[], last = done * perPass;
  const room = Math.floor(last / LOSS_EVERY);
  if (points.length > room) {
    bad(
      "fit.lossCurve",
      `a list of at most ${grouped(room)} points (one per ${grouped(LOSS_EVERY)} patterns or more, over ${done} ` +
        `pass${done === 1 ? "" : "es"} of at most ${grouped(perPass)} patterns); it holds ${grouped(points.length)}`,
    );
  }
  let before = 0;
  for (const [i, p] of points.entries()) {
    const at = `fit.lossCurve[${i}]`;
    if (!isObject(p)) bad(at, "a point { patterns, loss }", p);
    const r = p as Record<string, unknown>;
    checkKnown(path, at, r, ["patterns", "loss"]);
    checkRule(bad, `${at}.patterns`, integer(before + LOSS_EVERY, last), r.patterns);
    checkRule(bad, `${at}.loss`, PASS_FIELDS.loss, r.loss);
    before = r.patterns as number;
  }
}

/** Runs `build`; an error it throws (a GraphError, say) keeps its type and gains `prefix` before its message. */
export function prefixErrors<T>(prefix: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    (e as Error).message = prefix + (e as Error).message;
    throw e;
  }
}

/** Rebuilds model, optimizer and progress from a run folder's checkpoint, every field checked first. */
export async function loadCheckpoint(dir: string, registry: Registries) {
  const path = checkpointPath(dir);
  const data = await readJSONFile(path);
  checkCheckpoint(data, path, registry);
  const bad = badField(path);
  const settings = data.settings;
  if (settings.distort !== undefined) {
    checkDistortionRanges(settings.distort, `Cannot resume from "${path}": field "settings.distort"`);
  }
  /** Runs `build`; an error it throws gains the file and the field. */
  const naming = <T>(field: string, build: () => T) =>
    prefixErrors(`Cannot resume from "${path}": field "${field}": `, build);
  const model: Model = naming(
    "settings.graph",
    () => buildModel(settings.graph, { registry, seed: settings.seed, kernels: settings.kernels ?? "js" }),
  );
  const batchTooLarge = batchProblem(model, settings.batch);
  if (batchTooLarge) bad("settings.batch", batchTooLarge, settings.batch);
  checkFitState(bad, path, data.fit, settings, model);
  model.params.set(base64ToFloats(data.params, model.params.length, `"${path}": field "params"`));
  const nonFinite = firstNonFinite(model);
  if (nonFinite) {
    throw new TypeError(`Cannot resume from "${path}": field "params": ${describeNonFinite(nonFinite)}`);
  }
  const optimizer = naming(
    "settings.optimizer",
    () => createOptimizer(optimizerSpecOf(settings, registry), model, registry),
  );
  restoreState(bad, path, data.optimizerState, optimizer, model);
  return { settings, model, optimizer, fit: data.fit, wallSeconds: data.wallSeconds };
}

/**
 * Puts the checkpoint's optimizer state into `optimizer`: exactly the keys its rule creates (and those of its
 * `stateRules` it creates later, such as SDLM's kept h_kk, one float per trainable parameter), each of the same kind
 * and size, every value one the rule allows.
 */
function restoreState(bad: Bad, path: string, saved: Checkpoint["optimizerState"], optimizer: Optimizer, model: Model) {
  const type = optimizer.plugin.type, rules = optimizer.plugin.stateRules ?? {};
  const fresh: OptimizerState = { ...optimizer.state };
  for (const k of Object.keys(rules)) {
    if (!Object.hasOwn(fresh, k) && saved[k] !== undefined) fresh[k] = new Float32Array(model.trainableCount);
  }
  for (const k of Object.keys(fresh)) {
    if (!Object.hasOwn(saved, k)) bad(`optimizerState.${k}`, `present: optimizer ${type} keeps it`);
  }
  for (const [k, v] of Object.entries(saved)) {
    const want = Object.hasOwn(fresh, k) ? fresh[k] : undefined;
    if (want === undefined) {
      bad(
        `optimizerState.${k}`,
        `absent: it is no state of optimizer ${type} (${Object.keys(fresh).join(", ") || "it keeps none"})`,
      );
    }
    const size = typeof v === "number" ? undefined : v.count;
    if (typeof want === "number" ? size !== undefined : size !== want!.length) {
      throw new TypeError(
        `Cannot resume from "${path}": field "optimizerState.${k}" must be ${
          typeof want === "number" ? "a number" : `${want!.length} floats`
        } for optimizer ${type} on this graph, got ${size === undefined ? "a number" : `${size} floats`}`,
      );
    }
    const value = typeof v === "number" ? v : base64ToFloats(v.floats, v.count, `"${path}": optimizer state "${k}"`);
    const rule = Object.hasOwn(rules, k) ? rules[k] : number("a finite number", () => true);
    const values = typeof value === "number" ? [value] : value;
    const i = values.findIndex((x) => !rule.ok(x));
    if (i >= 0) {
      bad(`optimizerState.${k}${typeof value === "number" ? "" : `[${i}]`}`, rule.expected, values[i]);
    }
    (optimizer.state as OptimizerState)[k] = value;
  }
}
