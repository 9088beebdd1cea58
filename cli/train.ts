/**
 * `deno task train`: trains a preset (the faithful LeNet-5 by default) on
 * MNIST, shows progress, and keeps a run folder with the model, a checkpoint
 * to resume from, summary.json and pictures. The flags become settings in
 * cli/_flags.ts, the recipe is presets/recipe.ts, the folder's files are
 * cli/_run_folder.ts; this file runs them in order.
 *
 * @module
 */
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { preparedData } from "../data/prepare.ts";
import { type FolderLock, taskCommand } from "../data/out_folder.ts";
import { checkSplitFits } from "../data/source.ts";
import { evaluate } from "../engine/evaluate.ts";
import { DivergenceError, fit, type FitState, type Progress } from "../engine/fit.ts";
import { buildModel } from "../engine/model.ts";
import { formatSummary } from "../engine/summary.ts";
import { createOptimizer } from "../engine/train.ts";
import { LENET5_SETTINGS } from "../presets/presets.ts";
import { fitOptionsOf, formatRecipe, optimizerSpecOf, type RunSettings } from "../presets/recipe.ts";
import { writeDigitGrid, writeDistortionGrid } from "../report/report.ts";
import { fsError, OptionError, runCommand } from "./_command.ts";
import { type Flags, HELP, OPTIONS, settingOption, settingsFromFlags } from "./_flags.ts";
import { checkpointPath, loadCheckpoint, prefixErrors } from "./_run.ts";
import { checkOutFolder, exists, lockRunFolder, type RunRecord, writePassFiles } from "./_run_folder.ts";

/** Flags a resumed run accepts; every other one would change the run. */
const RESUME_FLAGS = new Set(["resume", "epochs", "quiet", "sequential", "help"]);

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
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

/** Runs the command; returns the exit code. */
export function main(args: string[]): Promise<number> {
  return runCommand(args, OPTIONS, HELP, run);
}

async function run(values: Flags): Promise<number> {
  const registry = defaultRegistry;
  /** Warnings printed while the flags were read, for the run's report. */
  const flagWarnings: string[] = [];
  const warn = (message: string) => {
    console.warn(message);
    flagWarnings.push(message);
  };
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
      const flags = extra.map(([k]) => `--${k}`).join(", ");
      throw new OptionError(
        `Option --resume continues a run with its own settings; ${flags} would change it (only --epochs, --quiet and --sequential may be given with --resume)`,
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
    const r = await settingsFromFlags(values, warn);
    settings = r.settings;
    const inFile = values.model ? `In "${values.model}": ` : "";
    model = prefixErrors(
      inFile,
      () => buildModel(settings.graph, { registry, seed: settings.seed, kernels: settings.kernels }),
    );
    if (r.startParams) model.params.set(r.startParams);
    optimizer = createOptimizer(optimizerSpecOf(settings, registry), model, registry);
    if (values.summary) {
      console.log(formatSummary(model) + "\n\n" + formatRecipe(settings, optimizer));
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

  const data = preparedData(await loadMnist({ dir: settings.data }), model.prepare);
  checkSplitFits(model, data.train, "training images");
  checkSplitFits(model, data.test, "test images");
  if (!lock) lock = held.use(await lockRunFolder(dir, command, () => checkOutFolder(dir, values.force as boolean)));
  // Starting over with --force: the old run's checkpoint goes, so a stop before the first pass cannot resume it.
  if (!fitState && values.force) await Deno.remove(checkpointPath(dir)).catch(() => {});
  samplePeakMB();
  const train = settings.limit ? Math.min(settings.limit, data.train.count) : data.train.count;
  const n = (k: number) => k.toLocaleString("en-US");
  console.log(
    `Data: ${data.source}: ${n(data.train.count)} training (using ${n(train)}), ${n(data.test.count)} test patterns`,
  );
  const counts = model.counts(), parameters = n(counts.trainable);
  const order = settings.shuffle ? "; a new order each pass" : "", distorted = settings.distort ? "; distorted" : "";
  const graphName = settings.graph.name ?? settings.source;
  console.log(`Model: ${graphName}, ${parameters} parameters; seed ${settings.seed}${order}${distorted}`);
  console.log(formatRecipe({ ...settings, deviations: undefined }, optimizer));
  console.log(`Run folder: ${dir}`);

  if (!fitState) {
    const before = evaluate(model, data.test, { limit: 100 });
    await writeDigitGrid(join(dir, "digits-before.svg"), data.test, before.predictions, "Test digits before training");
    if (settings.distort) {
      await writeDistortionGrid(join(dir, "distortions.png"), data.train, {
        ranges: settings.distort,
        seed: settings.seed,
        pad: model.inputPad,
      });
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
  const record: RunRecord = {
    dir,
    settings,
    optimizer,
    flags: values,
    data,
    patternsPerPass: train,
    counts,
    machine,
    wall: () => wallBefore + (performance.now() - t0) / 1000,
    peakMB: samplePeakMB,
    // Every warning printed so far, the stalled-run ones recomputed from the history (a resumed run's too).
    warnings: (state) => [
      ...flagWarnings,
      ...state.history.flatMap((p) => stalledWarning(p, data.classes, settings) ?? []),
    ],
  };
  // With the evaluation in the background the model has moved on into the next pass: the files hold the pass's own weights.
  const saved = buildModel(settings.graph, { registry, seed: settings.seed, kernels: "js" });
  const result = await fit(model, optimizer, data, {
    ...fitOptionsOf(settings, registry),
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
      await writePassFiles(record, saved, state, testPredictions, snapshot);
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
    const passes = `${last.pass} pass${last.pass === 1 ? "" : "es"}`, wall = formatSeconds(record.wall());
    const report = join(dir, "index.html");
    console.log(
      `Done: test error ${(100 * last.testError).toFixed(2)}% after ${passes}, ${wall} in all. Report: ${report}`,
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
  const guess = `${(100 * chance).toFixed(2)}% for ${classes} classes`;
  const what = Number.isFinite(h.loss)
    ? `the training error is ${(100 * h.trainError).toFixed(2)}%, no better than guessing (${guess})`
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
