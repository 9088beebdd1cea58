/**
 * The training loop: passes over a data set in a fixed random order from a
 * seed, one update per batch, the optimizer's hooks around each pass and
 * update (SDLM re-estimates its curvature there), an eta schedule, progress
 * reports, and an evaluation of each pass's weights.
 *
 * Everything random is derived from (seed, pass), so a run resumed after
 * pass p continues exactly as an uninterrupted one.
 *
 * @module
 */
import { NON_FINITE_ANSWER } from "./evaluate.ts";
import type { DistortionRanges } from "../data/distort.ts";
import { type DataSource, imageSource, isSplit } from "../data/source.ts";
import type { Split } from "../data/split.ts";
import { describeNonFinite, firstNonFinite } from "./finite.ts";
import { batchProblem } from "./limits.ts";
import type { Model } from "./model.ts";
import type { Floats, OptimizerState } from "./types.ts";
import { type PassEvaluation, PassEvaluations } from "./pass_eval.ts";
import { ParallelTrainer } from "./parallel.ts";
import type { Registries } from "./registry.ts";
import { Rng } from "./rng.ts";
import { type Optimizer, trainStep } from "./train.ts";

/** What one pass produced. */
export interface PassResult {
  /** 1-based pass number. */
  readonly pass: number;
  /** Global learning rate (eta) of the pass. */
  readonly lr: number;
  /** Mean training loss over the pass's updates. */
  readonly loss: number;
  /** Fraction of training patterns misclassified after the pass (0..1). */
  readonly trainError: number;
  /**
   * Fraction of the pass's patterns misclassified on the fly, each by the
   * network as it stood just before its own update: the paper's measure of
   * training error (the caption of its training curve). With distortions, of the distorted patterns.
   */
  readonly runningError?: number;
  /** Fraction of test patterns misclassified after the pass (0..1). */
  readonly testError: number;
  /** Wall time of the pass's training, seconds (curvature and evaluation excluded). */
  readonly seconds: number;
  /** Wall time of the curvature estimate before the pass, seconds (SDLM). */
  readonly curvatureSeconds?: number;
  /** Wall time of the evaluation after the pass, seconds (on the worker when it ran in the background). */
  readonly evalSeconds?: number;
  /** SDLM only: smallest and largest per-parameter step eta / (mu + h_kk) in the pass. */
  readonly stepRange?: readonly [number, number];
}

/** Patterns between two points of the running loss, unless `FitOptions.lossEvery` says otherwise. */
export const LOSS_EVERY = 1000;

/** A point of the running loss. */
export interface LossPoint {
  /** Patterns seen since the start of training. */
  readonly patterns: number;
  /** Mean training loss over the patterns since the previous point (at least `lossEvery` of them). */
  readonly loss: number;
}

/** Progress while a pass runs. */
export interface Progress {
  /** The pass running, 1-based. */
  readonly pass: number;
  /** Passes of the whole run (`FitOptions.passes`). */
  readonly passes: number;
  /** Patterns of this pass trained on so far. */
  readonly done: number;
  /** Patterns in one pass. */
  readonly total: number;
  /** Training speed since `fit` was called, in patterns per second. */
  readonly patternsPerSecond: number;
  /** Seconds left for the whole run (training only). */
  readonly eta: number;
  /** Mean training loss over this pass's patterns so far. */
  readonly runningLoss: number;
  /** Fraction of this pass's patterns misclassified before their update. */
  readonly runningError: number;
}

/** How to train. */
export interface FitOptions {
  /** Passes over the training set in all, counting those a resumed `state` already made. */
  readonly passes: number;
  /** Patterns per update. */
  readonly batch: number;
  /** Seed of everything random in training: the pattern order, the curvature samples and the distortions. */
  readonly seed: number;
  /** eta per pass (index 0 = pass 1; the last repeats); absent: the optimizer's own lr. */
  readonly schedule?: readonly number[];
  /**
   * Where the model's plugins were registered (default `model.registry`):
   * worker threads import each plugin from the module URL registered with it.
   */
  readonly registry?: Registries;
  /**
   * Scripts of the worker threads (default: engine/_parallel_worker.ts and engine/_eval_worker.ts beside fit.ts); a
   * bundle for the browser gives its own builds of them.
   */
  readonly workerUrls?: { readonly parallel?: string | URL; readonly evaluator?: string | URL };
  /** Train on the first `limit` patterns only. */
  readonly limit?: number;
  /** Stop after this many updates in all (e.g. 2,500 steps). */
  readonly maxSteps?: number;
  /** Evaluate on at most this many training patterns after each pass (default all). */
  readonly evalTrainLimit?: number;
  /**
   * Distort each training image at random before it is presented (the
   * paper's "with distortions" runs); absent: no distortion. For image splits.
   */
  readonly distort?: DistortionRanges;
  /**
   * Draw a new pattern order for every pass (usual for minibatch SGD);
   * default false: one permutation from the seed for all passes, the paper's rule.
   */
  readonly shuffle?: boolean;
  /** Record the running loss every this many patterns (default LOSS_EVERY, 1,000). */
  readonly lossEvery?: number;
  /**
   * Threads that share each batch and the evaluations (engine/parallel.ts);
   * default 1. Results depend on the seed and this number.
   */
  readonly threads?: number;
  /** Called about once a second while a pass runs, and at its end. */
  onProgress?(p: Progress): void;
  /**
   * Evaluate each pass's weights on a second thread while the next pass trains (only with `threads` 1 and image
   * splits); the last pass's evaluation is shared by both threads. Default false. The weights do not depend on it.
   */
  readonly background?: boolean;
  /**
   * Called after each pass's evaluation with the state to save; awaited. With `background`, that is during the next
   * pass: save `snapshot` (the weights and optimizer state at the end of the pass), not the live model.
   */
  onPass?(state: FitState, testPredictions: Int32Array, snapshot: PassSnapshot): Promise<void> | void;
}

/** The weights and optimizer state at the end of a pass, as `onPass` must save them. */
export interface PassSnapshot {
  /** All of the model's parameters (fixed ones too). */
  readonly params: Floats;
  /** The optimizer's state (e.g. SDLM's kept h_kk), copied. */
  readonly optimizerState: OptimizerState;
}

/** Where a run stands: enough to resume it. */
export interface FitState {
  /** Passes completed. */
  passesDone: number;
  /** Updates made so far. */
  steps: number;
  /** One result per pass completed, in order. */
  history: PassResult[];
  /** The running loss, a point every `lossEvery` patterns. */
  lossCurve: LossPoint[];
}

/**
 * Training diverged: a loss or a weight stopped being a finite number. fit() stops at once; the passes before `pass`
 * were recorded (and handed to `onPass`), nothing of `pass` was.
 */
export class DivergenceError extends Error {
  /** `"DivergenceError"`: the name stack traces and `String(error)` show. */
  override name = "DivergenceError";
  /** Made by `fit`: `message` says what stopped being finite and which state is the last good one. */
  constructor(
    message: string,
    /** The pass it happened in (1-based). */
    readonly pass: number,
    /** The last pattern of the batch whose loss was not finite, 1-based within the pass; null: found after the pass. */
    readonly pattern: number | null,
    /** Updates made before it, in all. */
    readonly step: number,
    /** Passes recorded before it: the last good state is the one after this pass (0: none). */
    readonly lastGoodPass: number,
  ) {
    super(message);
  }
}

/** The eta of pass `pass` (1-based). */
export function learningRateOf(pass: number, schedule: readonly number[] | undefined, fallback: number): number {
  if (!schedule || schedule.length === 0) return fallback;
  return schedule[Math.min(pass - 1, schedule.length - 1)];
}

/** A random stream for one purpose of one pass, derived from the seed. */
export function streamFor(seed: number, pass: number, purpose: number): Rng {
  return new Rng(((seed * 0x9e3779b1) ^ (pass * 0x85ebca6b) ^ (purpose * 0xc2b2ae35)) >>> 0);
}

/** The random streams of a pass, by purpose. */
const STREAM = { ORDER: 1, CURVATURE_SAMPLE: 2, DISTORTION: 3, SHUFFLE: 4 } as const;

/**
 * The order patterns are presented in: one permutation from the seed, the same
 * every pass; or, given `pass` (1-based), that pass's own permutation (`shuffle`).
 */
export function patternOrder(count: number, seed: number, pass = 0): Int32Array {
  const purpose = pass === 0 ? STREAM.ORDER : STREAM.SHUFFLE;
  return streamFor(seed, pass, purpose).shuffle(Int32Array.from({ length: count }, (_, i) => i));
}

/** A pass whose training is over, waiting for its evaluation. */
interface Finished {
  readonly result: Omit<PassResult, "trainError" | "testError" | "evalSeconds">;
  /** Updates and loss-curve points at the end of the pass. */
  readonly steps: number;
  readonly lossPoints: number;
  readonly snapshot: PassSnapshot;
}

const copyState = (state: OptimizerState): OptimizerState =>
  Object.fromEntries(Object.entries(state).map(([k, v]) => [k, typeof v === "number" ? v : v.slice()]));

/** The running loss and error of a pass, its loss-curve points and its progress reports. */
class PassMeter {
  loss = 0;
  wrong = 0;
  seen = 0;
  #windowLoss = 0;
  #windowSeen = 0;
  #lastReport: number;

  constructor(
    readonly pass: number,
    readonly count: number,
    readonly started: number,
    readonly options: FitOptions,
    readonly state: FitState,
  ) {
    this.#lastReport = performance.now();
  }

  /** Adds a batch of `n` patterns at `s` (0-based in the pass) with its mean loss and wrong predictions. */
  add(s: number, n: number, loss: number, wrong: number, patternsThisRun: number): void {
    this.wrong += wrong;
    this.loss += loss * n;
    this.seen += n;
    this.#windowLoss += loss * n;
    this.#windowSeen += n;
    if (this.#windowSeen >= (this.options.lossEvery ?? LOSS_EVERY)) {
      const patterns = (this.pass - 1) * this.count + s + n;
      this.state.lossCurve.push({ patterns, loss: this.#windowLoss / this.#windowSeen });
      this.#windowLoss = this.#windowSeen = 0;
    }
    const now = performance.now(), o = this.options;
    if (!o.onProgress || !(now - this.#lastReport > 1000 || s + n >= this.count)) return;
    this.#lastReport = now;
    const rate = patternsThisRun / ((now - this.started) / 1000);
    const left = (o.passes - this.pass) * this.count + (this.count - s - n);
    const stepsLeft = o.maxSteps !== undefined ? (o.maxSteps - this.state.steps) * o.batch : Infinity;
    o.onProgress({
      pass: this.pass,
      passes: o.passes,
      done: s + n,
      total: this.count,
      patternsPerSecond: rate,
      eta: Math.min(left, stepsLeft) / rate,
      runningLoss: this.loss / this.seen,
      runningError: this.wrong / this.seen,
    });
  }
}

/** The message of a DivergenceError: where it happened and which state is the last good one. */
function divergence(problem: string, pass: number, at: [number, number] | null, state: FitState, count: number) {
  const n = (k: number) => k.toLocaleString("en-US");
  const patterns = at && `pattern${at[0] < at[1] ? `s ${n(at[0])}-` : " "}${n(at[1])} of ${n(count)}`;
  const where = at === null ? `pass ${pass}` : `pass ${pass} at ${patterns} (update ${n(state.steps)})`;
  const good = state.passesDone ? `the one after pass ${state.passesDone}` : "none (no pass completed)";
  return new DivergenceError(
    `Training diverged in ${where}: ${problem}. The last good state is ${good}.`,
    pass,
    at?.[1] ?? null,
    state.steps,
    state.passesDone,
  );
}

/**
 * Trains `model` with `optimizer` on `train`, evaluating on `test` after each
 * pass. The data are image splits (preprocessed as the paper does) or any
 * data sources (data/source.ts). `state` resumes a run (passes already done
 * are skipped).
 *
 * With `background`, pass k's evaluation runs on a worker while pass k+1
 * trains; pass k is recorded (`history`, `onPass`) when it lands, with the
 * weights of the end of pass k. The weights, the order of the patterns and
 * every number recorded are the same as without it.
 *
 * @example
 * ```ts
 * import { buildModel, createOptimizer, defaultRegistry, PRESETS } from "../mod.ts";
 * import { loadMnist } from "../data/mnist.ts";
 * import { fit } from "./fit.ts";
 * const data = await loadMnist();
 * const model = buildModel(PRESETS["lenet5-modern"].graph, { registry: defaultRegistry });
 * const opt = createOptimizer({ type: "adam", lr: 0.002 }, model, defaultRegistry);
 * const state = await fit(model, opt, data, { passes: 1, batch: 32, seed: 1, limit: 320, evalTrainLimit: 100 });
 * console.log(state.history[0].testError);
 * ```
 */
export async function fit(
  model: Model,
  optimizer: Optimizer,
  data: { readonly train: Split | DataSource; readonly test: Split | DataSource },
  options: FitOptions,
  state: FitState = { passesDone: 0, steps: 0, history: [], lossCurve: [] },
): Promise<FitState> {
  if (model.trainableCount === 0) {
    throw new RangeError("Cannot train the model: it has no trainable parameters (its layers hold only fixed ones)");
  }
  const batch = options.batch, batchTooLarge = batchProblem(model, batch);
  if (batchTooLarge) {
    throw new RangeError(`Cannot train the model: FitOptions.batch must be ${batchTooLarge}, got ${batch}`);
  }
  const train = isSplit(data.train) ? imageSource(data.train, { distort: options.distort }) : data.train;
  const test = isSplit(data.test) ? imageSource(data.test) : data.test;
  train.check(model, "training images");
  test.check(model, "test images");
  const count = Math.min(options.limit ?? train.count, train.count);
  const trainCount = Math.min(count, options.evalTrainLimit ?? count);
  const totalSteps = options.maxSteps ?? Infinity;
  const x = new Float32Array(batch * model.inputSize),
    labels = new Uint8Array(batch),
    predicted = new Int32Array(batch);
  const threads = options.threads ?? 1;
  const parallel = threads > 1
    ? await ParallelTrainer.create(model, {
      threads,
      capacity: Math.max(batch, 100),
      registry: options.registry,
      workerUrl: options.workerUrls?.parallel,
    })
    : undefined;
  const evals = await PassEvaluations.create<Finished>(model, data, {
    trainCount,
    background: !!options.background && !parallel && state.passesDone < options.passes && state.steps < totalSteps,
    parallel,
    registry: options.registry,
    workerUrl: options.workerUrls?.evaluator,
  });
  /** Records a pass once its evaluation is known, and hands it to onPass. */
  const record = async ([f, e]: [Finished, PassEvaluation]) => {
    state.history.push({
      ...f.result,
      trainError: e.trainWrong / Math.max(1, trainCount),
      testError: e.testWrong / Math.max(1, test.count),
      evalSeconds: Math.round(e.seconds * 1000) / 1000,
    });
    state.passesDone = f.result.pass;
    // The state as it stood at the end of the pass: a resumed run starts from there.
    const saved = evals.background
      ? { ...state, steps: f.steps, lossCurve: state.lossCurve.slice(0, f.lossPoints) }
      : state;
    await options.onPass?.(saved, e.testPredictions, f.snapshot);
  };
  /** Stops the run; the pass still being evaluated was good, so it is recorded first. */
  const diverged = async (problem: string, pass: number, at: [number, number] | null): Promise<never> => {
    const pending = evals.finish();
    if (pending) await record(pending);
    throw divergence(problem, pass, at, state, count);
  };
  const started = performance.now();
  let order = patternOrder(count, options.seed), patternsThisRun = 0;
  try {
    for (let pass = state.passesDone + 1; pass <= options.passes && state.steps < totalSteps; pass++) {
      const lr = learningRateOf(pass, options.schedule, optimizer.lr);
      if (options.shuffle) order = patternOrder(count, options.seed, pass);
      const tc = performance.now();
      const notes = optimizer.beforePass(model, pass, lr, (k) => {
        const n = Math.min(k, count), rng = streamFor(options.seed, pass, STREAM.CURVATURE_SAMPLE);
        const pick = Int32Array.from({ length: n }, () => order[rng.int(count)]);
        const inputs = new Float32Array(n * model.inputSize), sampled = new Uint8Array(n);
        train.read(pick, inputs, sampled);
        return { inputs, labels: sampled, count: n };
      });
      const curvatureSeconds = (performance.now() - tc) / 1000;
      const distortion = streamFor(options.seed, pass, STREAM.DISTORTION);
      const t0 = performance.now(), meter = new PassMeter(pass, count, started, options, state);
      for (let s = 0; s < count && state.steps < totalSteps; s += batch) {
        const landed = evals.poll();
        if (landed) await record(landed);
        const n = Math.min(batch, count - s);
        const xs = x.subarray(0, n * model.inputSize), ls = labels.subarray(0, n);
        train.read(order.subarray(s, s + n), xs, ls, distortion);
        const loss = parallel
          ? parallel.trainStep(optimizer, xs, ls, n, lr, predicted)
          : trainStep(model, optimizer, xs, ls, n, lr, predicted);
        state.steps++;
        if (!Number.isFinite(loss)) await diverged(`the loss is ${loss}`, pass, [s + 1, s + n]);
        optimizer.afterStep(model, state.steps, lr, { inputs: xs, labels: ls, count: n });
        let wrong = 0;
        for (let i = 0; i < n; i++) if (predicted[i] !== ls[i]) wrong++;
        patternsThisRun += n;
        meter.add(s, n, loss, wrong, patternsThisRun);
      }
      const bad = firstNonFinite(model);
      if (bad) await diverged(`after its last update ${describeNonFinite(bad)}`, pass, null);
      optimizer.afterPass(model);
      const finished: Finished = {
        result: {
          pass,
          lr,
          loss: meter.loss / Math.max(1, meter.seen),
          runningError: meter.wrong / Math.max(1, meter.seen),
          seconds: (performance.now() - t0) / 1000,
          ...(optimizer.plugin.beforePass ? { curvatureSeconds: Math.round(curvatureSeconds * 1000) / 1000 } : {}),
          ...(notes.stepRange ? { stepRange: [...notes.stepRange] as [number, number] } : {}),
        },
        steps: state.steps,
        lossPoints: state.lossCurve.length,
        snapshot: evals.background
          ? { params: model.params.slice(), optimizerState: copyState(optimizer.state) }
          : { params: model.params, optimizerState: optimizer.state },
      };
      const last = pass === options.passes || state.steps >= totalSteps;
      for (const done of evals.submit(finished, finished.snapshot.params, last)) await record(done);
    }
    const pending = evals.finish();
    if (pending) await record(pending);
  } catch (e) {
    // Finite weights whose answers are not (an evaluation refused them): the pass being evaluated diverged.
    if (e instanceof RangeError && e.message.includes(NON_FINITE_ANSWER)) {
      throw divergence(
        `the weights after it give ${e.message.replace(/^Cannot evaluate the model: /, "")}`,
        state.passesDone + 1,
        null,
        state,
        count,
      );
    }
    throw e;
  } finally {
    parallel?.close();
    evals.close();
  }
  return state;
}
