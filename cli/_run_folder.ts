/**
 * A training run's folder: the guard on the folder `--out` names (ours, or
 * refused unless `--force`), its lock, and the files written after each pass
 * (checkpoint first, then the model, the metrics, the pictures, summary.json
 * and the report).
 *
 * @module
 */
import { join } from "node:path";
import { type FolderLock, LOCK_FILE, lockFolder, someNames } from "../data/out_folder.ts";
import type { Dataset } from "../data/split.ts";
import type { FitState, PassSnapshot } from "../engine/fit.ts";
import { classificationMetrics, formatMetrics } from "../engine/metrics.ts";
import type { Model } from "../engine/model.ts";
import { isTemporaryOf, removeStaleTemporaries, saveModel, writeFileAtomic } from "../engine/model_file.ts";
import type { Optimizer } from "../engine/train.ts";
import { formatRecipe, type RunSettings, settingsRows } from "../presets/recipe.ts";
import { deviationsHtml } from "../report/deviations.ts";
import {
  misclassified,
  writeCurves,
  writeDigitGrid,
  writeGallery,
  writeIndex,
  writeMetrics,
} from "../report/report.ts";
import { escapeXml } from "../report/svg.ts";
import { fsError, OptionError } from "./_command.ts";
import { checkpointPath, saveCheckpoint } from "./_run.ts";

export async function exists(path: string): Promise<boolean> {
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

/**
 * Makes sure `--out DIR` may be written: a new or empty folder, or one that holds only what a run stopped before its
 * first pass left (with the lock file and our stale temporary files); any other content (a run of ours, or the user's
 * files) is refused unless `force`. Reads, never writes; returns whether the folder exists. Throws OptionError naming
 * the problem.
 */
export async function checkOutFolder(dir: string, force: boolean): Promise<boolean> {
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
 * Takes the lock of the run folder `dir` (made if need be), which the run holds to its end: a second command on the
 * folder fails at once, naming this one. Then `check` runs again, now that no other command of ours can write the
 * folder, and our stale temporary files go.
 */
export async function lockRunFolder(dir: string, command: string, check: () => Promise<unknown>): Promise<FolderLock> {
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

/** What the files of a run's folder are written from. */
export interface RunRecord {
  readonly dir: string;
  readonly settings: RunSettings;
  readonly optimizer: Optimizer;
  /** The flags of the command line. */
  readonly flags: Record<string, string | boolean | undefined>;
  readonly data: Dataset;
  /** Training patterns per pass. */
  readonly patternsPerPass: number;
  readonly counts: { readonly trainable: number; readonly connections: number };
  /** The machine the timings come from. */
  readonly machine: unknown;
  /** Wall time of all sessions of the run so far, seconds. */
  wall(): number;
  /** The highest resident memory so far, MB. */
  peakMB(): number;
  /** Every warning printed so far for this state (flags and stalled passes). */
  warnings(state: FitState): string[];
}

/** Writes summary.json: the run's settings, its machine and every pass so far. */
export async function writeSummary(run: RunRecord, state: FitState, final: Record<string, unknown> = {}) {
  const { settings } = run, last = state.history[state.history.length - 1];
  const summary = {
    preset: settings.source,
    flags: Object.fromEntries(Object.entries(run.flags).filter(([, v]) => v !== undefined && v !== false)),
    settings: { ...settings, graph: undefined, graphName: settings.graph.name },
    seed: settings.seed,
    data: run.data.source,
    parameters: run.counts.trainable,
    connections: run.counts.connections,
    wallSeconds: Math.round(run.wall() * 10) / 10,
    machine: run.machine,
    peakResidentMB: run.peakMB(),
    passesDone: state.passesDone,
    testError: last?.testError,
    trainError: last?.trainError,
    deviations: settings.deviations ?? [],
    passes: state.history,
    ...final,
  };
  await writeFileAtomic(join(run.dir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
}

/**
 * Writes what a run keeps after a pass, from the pass's own weights and optimizer state (`snapshot`, loaded into
 * `saved`, a model of the run's graph): checkpoint.json first (a folder holding model.json but no checkpoint.json is
 * never ours), model.json, the metrics, the digits, the curves, the misclassified digits, summary.json and index.html.
 */
export async function writePassFiles(
  run: RunRecord,
  saved: Model,
  state: FitState,
  testPredictions: Int32Array,
  snapshot: PassSnapshot,
): Promise<void> {
  const { dir, settings, data } = run, h = state.history[state.history.length - 1];
  saved.params.set(snapshot.params);
  await saveCheckpoint(dir, settings, saved, { state: snapshot.optimizerState }, state, run.wall());
  await saveModel(join(dir, "model.json"), saved);
  const metrics = classificationMetrics(testPredictions, data.test.labels, data.classes);
  await writeMetrics(dir, metrics, formatMetrics(metrics));
  await writeDigitGrid(join(dir, "digits-after.svg"), data.test, testPredictions, `Test digits after pass ${h.pass}`);
  await writeCurves(dir, state, run.patternsPerPass);
  // Class probabilities for the misclassified test digits only, from the pass's own weights.
  const wrong = misclassified(saved, data.test, testPredictions);
  await writeGallery(join(dir, "misclassified.svg"), data.test, wrong.cells, wrong.wrong, "Misclassified test digits");
  await writeSummary(run, state, { macroF1: metrics.macroF1 });
  const parameters = run.counts.trainable.toLocaleString("en-US"), loss = escapeXml(settings.graph.loss.type);
  const pct = (fraction: number) => (100 * fraction).toFixed(2), f1 = metrics.macroF1.toFixed(4);
  await writeIndex(dir, `LeNet-5 run: ${settings.source}, seed ${settings.seed}`, state, [
    `Data: ${escapeXml(data.source)}. ${parameters} parameters, loss ${loss}, ` +
    `optimizer ${escapeXml(settings.optimizer.type)}, batch ${settings.batch}.`,
    `After pass ${h.pass}: test error ${pct(h.testError)}%, training error ${pct(h.trainError)}%, macro F1 ${f1}.`,
    ...deviationsHtml(settings.deviations),
    ...(settings.distort
      ? [
        `Training patterns distorted at random (${escapeXml(JSON.stringify(settings.distort))}); examples:<br>` +
        `<img src="distortions.png" alt="training digits and random distortions of them" width="512">`,
      ]
      : []),
  ], {
    metrics,
    recipe: formatRecipe({ ...settings, deviations: undefined }, run.optimizer), // the deviations have their own table
    settings: settingsRows(settings, run.optimizer, run.flags, { source: data.source, trainCount: data.train.count }),
    warnings: run.warnings(state),
    wallSeconds: run.wall(),
    gallery: true,
  });
}
