/**
 * The training loop: passes over a data set in a fixed random order from a
 * seed, one update per batch, SDLM's curvature re-estimated before each pass,
 * an eta schedule, progress reports, and evaluation after each pass.
 *
 * Everything random is derived from (seed, pass), so a run resumed after
 * pass p continues exactly as an uninterrupted one.
 *
 * @module
 */
import type { Split } from "../data/split.ts";
import { distortInto, type DistortionRanges, randomDistortion } from "../data/distort.ts";
import { PAPER_PREPROCESS, preprocessInto } from "../data/preprocess.ts";
import { describeNonFinite, firstNonFinite, firstNonFiniteAnswer } from "./finite.ts";
import { batchProblem } from "./limits.ts";
import { argmaxRows, type Model } from "./model.ts";
import type { Floats, LossPlugin, OptimizerState, Shape } from "./types.ts";
import { BackgroundEvaluator, splitRanges } from "./evaluator.ts";
import { ParallelTrainer } from "./parallel.ts";
import type { Registries } from "./registry.ts";
import { Rng } from "./rng.ts";
import { estimateCurvature, type Optimizer, trainStep } from "./train.ts";

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

/** What `evaluate` measured. */
export interface Evaluation {
  /** Fraction misclassified (0..1). */
  readonly error: number;
  /** Patterns misclassified. */
  readonly wrong: number;
  /** Mean loss. */
  readonly loss: number;
  /** Predicted class of each pattern evaluated. */
  readonly predictions: Int32Array;
  /** Patterns evaluated. */
  readonly count: number;
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
  /** Patterns the curvature is estimated on before each pass (SDLM); default 500. */
  readonly curvatureSamples?: number;
  /**
   * Fraction of the last pass's h_kk kept when it is re-estimated (SDLM):
   * h = m h_last + (1 - m) (mean over the samples). 0 (default): a fresh
   * estimate every pass, the paper's rule; 1: pass 1's estimate throughout.
   * The kept h_kk lives in the optimizer state as `curvature`, so resume sees it.
   */
  readonly curvatureMemory?: number;
  /**
   * SDLM: also update h_kk during the pass, as a running average over the
   * patterns trained on (appendix C's rule): every `curvatureEvery` updates,
   * h = (1 - rate) h + rate (h_kk of the batch just trained on). 0 or absent:
   * h_kk is held fixed for the pass, the paper's experiments.
   */
  readonly curvatureRate?: number;
  /** Updates between two running h_kk updates (default 10). */
  readonly curvatureEvery?: number;
  /**
   * SDLM: the loss whose curvature h_kk is estimated from (a plugin and its
   * checked config), e.g. the paper's MSE criterion E = y_D while the MAP
   * loss gives the gradients. Absent: the model's own loss.
   */
  readonly curvatureLoss?: { readonly plugin: LossPlugin; readonly config: unknown };
  /**
   * Where the model's plugins were registered (default `model.registry`):
   * worker threads import each plugin from the module URL registered with it.
   */
  readonly registry?: Registries;
  /**
   * Scripts of the worker threads (default: engine/_parallel_worker.ts and
   * engine/_eval_worker.ts beside fit.ts); a bundle for the browser gives its
   * own builds of them.
   */
  readonly workerUrls?: { readonly parallel?: string | URL; readonly evaluator?: string | URL };
  /** Train on the first `limit` patterns only. */
  readonly limit?: number;
  /** Stop after this many updates in all (e.g. 2,500 steps). */
  readonly maxSteps?: number;
  /** Evaluate on at most this many training patterns after each pass (default all). */
  readonly evalTrainLimit?: number;
  /**
   * Distort each training pattern at random before it is presented (the
   * paper's "with distortions" runs); absent: no distortion.
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
   * Evaluate each pass's weights on a second thread while the next pass
   * trains (only with `threads` 1); the last pass's evaluation is shared by
   * both threads. Default false. The weights do not depend on it.
   */
  readonly background?: boolean;
  /**
   * Called after each pass's evaluation with the state to save; awaited.
   * With `background`, that is during the next pass: save `snapshot` (the
   * weights and optimizer state at the end of the pass), not the live model.
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
 * Training diverged: a loss or a weight stopped being a finite number. fit()
 * stops at once; the passes before `pass` were recorded (and handed to
 * `onPass`), nothing of `pass` was.
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

/**
 * The order patterns are presented in: one permutation from the seed, the same
 * every pass; or, given `pass` (1-based), that pass's own permutation (`shuffle`).
 */
export function patternOrder(count: number, seed: number, pass = 0): Int32Array {
  return streamFor(seed, pass, pass === 0 ? 1 : 4).shuffle(Int32Array.from({ length: count }, (_, i) => i));
}

/** Estimates h_kk into `model.hess` before pass `pass`, blended with the last pass's (`curvatureMemory`). */
function curvatureFor(
  model: Model,
  optimizer: Optimizer,
  train: Split,
  order: Int32Array,
  count: number,
  pass: number,
  options: FitOptions,
): Floats {
  const memory = options.curvatureMemory ?? 0;
  if (!(memory >= 0 && memory <= 1)) {
    throw new RangeError(`FitOptions.curvatureMemory must be a number in 0..1, got ${memory}`);
  }
  const last = memory > 0 ? optimizer.state.curvature : undefined;
  if (last !== undefined && (typeof last === "number" || last.length !== model.hess.length)) {
    throw new TypeError(`Optimizer state "curvature" must hold ${model.hess.length} floats (the kept h_kk)`);
  }
  const h = model.hess;
  if (last && memory === 1) {
    h.set(last);
    model.curvatureChanged();
  } else {
    const k = Math.min(options.curvatureSamples ?? 500, count);
    const rng = streamFor(options.seed, pass, 2);
    const pick = Int32Array.from({ length: k }, () => order[rng.int(count)]);
    const cx = new Float32Array(k * model.inputSize), cl = new Uint8Array(k);
    gather(train, pick, cx, cl);
    estimateCurvature(model, cx, cl, k, { loss: options.curvatureLoss });
    if (last) {
      for (let i = 0; i < h.length; i++) h[i] = memory * last[i] + (1 - memory) * h[i];
      model.curvatureChanged();
    }
  }
  if (memory > 0) optimizer.state.curvature = Float32Array.from(h);
  return h;
}

/**
 * Checks that a split's images, padded as the paper's preprocessing pads
 * them, are the model's input, and that it holds patterns; throws a
 * RangeError naming the images' file otherwise. `what` names the split.
 */
export function checkSplitFits(model: Model, split: Split, what: string): void {
  const name = split.source ? `${what} "${split.source}"` : what;
  const pad = PAPER_PREPROCESS.pad;
  if (!(split.count >= 1)) throw new RangeError(`Cannot use the ${name}: it holds no patterns`);
  const h = split.rows + 2 * pad, w = split.cols + 2 * pad;
  const shape = model.inputShape;
  const [maps, rows, cols] = shape.length === 3 ? shape : shape.length === 2 ? [1, ...shape] : [shape[0], 1, 1];
  if (maps !== 1 || rows !== h || cols !== w) {
    const want = maps === 1 && rows > 2 * pad && cols > 2 * pad ? ` (${rows - 2 * pad}x${cols - 2 * pad} images)` : "";
    throw new RangeError(
      `Cannot use the ${name}: its images are ${split.rows}x${split.cols} (${h}x${w} after the ${pad}-pixel ` +
        `padding), but the model's input is ${shape.join("x")}${want}`,
    );
  }
  if (split.images.length < split.count * split.rows * split.cols || split.labels.length < split.count) {
    throw new RangeError(`Cannot use the ${name}: it holds fewer pixels or labels than ${split.count} patterns need`);
  }
  const k = model.classes;
  for (let i = 0; i < split.count; i++) {
    if (split.labels[i] >= k) {
      throw new RangeError(
        `Cannot use the ${name}: image ${i} is labelled ${split.labels[i]}, but the model has ${k} class${
          k === 1 ? "" : "es"
        } (0..${k - 1})`,
      );
    }
  }
}

/** Preprocessed inputs and labels of the patterns `indices` of a split. */
export function gather(split: Split, indices: ArrayLike<number>, x: Float32Array, labels: Uint8Array): void {
  const size = split.rows * split.cols;
  const inSize = x.length / Math.max(1, labels.length);
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i];
    preprocessInto(split.images.subarray(s * size, (s + 1) * size), split.rows, split.cols, x, i * inSize);
    labels[i] = split.labels[s];
  }
}

/** Distorts each of the `n` preprocessed patterns in `x` in place, every map of a pattern alike. */
function distortBatch(
  x: Float32Array,
  n: number,
  shape: Shape,
  ranges: DistortionRanges,
  rng: Rng,
  scratch: Float32Array,
) {
  const [maps, rows, cols] = shape.length === 3 ? shape : [1, shape[0], shape[1] ?? 1];
  const size = maps * rows * cols;
  for (let i = 0; i < n; i++) {
    const d = randomDistortion(rng, ranges);
    scratch.set(x.subarray(i * size, (i + 1) * size));
    for (let m = 0; m < maps; m++) {
      distortInto(scratch, m * rows * cols, rows, cols, x, i * size + m * rows * cols, d, PAPER_PREPROCESS.background);
    }
  }
}

/**
 * Classification error and predictions of `model` on a split: patterns
 * [from, limit), by default all of them.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, PRESETS } from "../mod.ts";
 * import { loadMnist } from "../data/mnist.ts";
 * import { evaluate } from "./fit.ts";
 * const { test } = await loadMnist();
 * const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
 * const { error } = evaluate(model, test, { limit: 200 });
 * if (!(error > 0.5)) throw new Error("an untrained model is near chance");
 * ```
 */
export function evaluate(
  model: Model,
  split: Split,
  options: { from?: number; limit?: number; batch?: number; parallel?: ParallelTrainer } = {},
): Evaluation {
  checkSplitFits(model, split, "data");
  const from = options.from ?? 0;
  const count = Math.max(0, Math.min(options.limit ?? split.count, split.count) - from);
  const batch = Math.min(options.batch ?? 100, options.parallel?.capacity ?? Infinity);
  const k = model.classes, { plugin, config } = model.loss;
  const x = new Float32Array(batch * model.inputSize);
  const labels = new Uint8Array(batch);
  const predictions = new Int32Array(count);
  const idx = new Int32Array(batch);
  const probs = new Float32Array(batch * k);
  let wrong = 0, loss = 0;
  for (let s = 0; s < count; s += batch) {
    const n = Math.min(batch, count - s);
    for (let i = 0; i < n; i++) idx[i] = from + s + i;
    gather(split, idx.subarray(0, n), x.subarray(0, n * model.inputSize), labels.subarray(0, n));
    const scores = options.parallel ? options.parallel.forward(x, n) : model.forward(x, n);
    loss += plugin.forward(config, scores, labels, n, k);
    plugin.probabilities(config, scores, n, k, probs);
    const bad = firstNonFiniteAnswer(scores.subarray(0, n * k), probs.subarray(0, n * k), k);
    if (bad) {
      throw new RangeError(
        `Cannot evaluate the model: its ${bad.output} for class ${bad.class} of image ${from + s + bad.sample}${
          split.source ? ` of "${split.source}"` : ""
        } is ${bad.value}; a model must answer with finite numbers (are its weights too large?)`,
      );
    }
    argmaxRows(probs, n, k, predictions.subarray(s, s + n));
    for (let i = 0; i < n; i++) if (predictions[s + i] !== labels[i]) wrong++;
  }
  return { error: wrong / count, wrong, loss: loss / count, predictions, count };
}

/** A pass whose training is over and whose evaluation may still be running. */
interface Finished {
  readonly result: Omit<PassResult, "trainError" | "testError" | "evalSeconds">;
  /** Updates and loss-curve points at the end of the pass. */
  readonly steps: number;
  readonly lossPoints: number;
  readonly snapshot: PassSnapshot;
  readonly trainCount: number;
}

const copyState = (state: OptimizerState): OptimizerState =>
  Object.fromEntries(Object.entries(state).map(([k, v]) => [k, typeof v === "number" ? v : v.slice()]));

/**
 * Trains `model` with `optimizer` on `train`, evaluating on `test` after each
 * pass. `state` resumes a run (passes already done are skipped).
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
  data: { train: Split; test: Split },
  options: FitOptions,
  state: FitState = { passesDone: 0, steps: 0, history: [], lossCurve: [] },
): Promise<FitState> {
  const { train, test } = data;
  if (model.trainableCount === 0) {
    throw new RangeError("Cannot train the model: it has no trainable parameters (its layers hold only fixed ones)");
  }
  const batch = options.batch;
  const batchTooLarge = batchProblem(model, batch);
  if (batchTooLarge) {
    throw new RangeError(`Cannot train the model: FitOptions.batch must be ${batchTooLarge}, got ${batch}`);
  }
  checkSplitFits(model, train, "training images");
  checkSplitFits(model, test, "test images");
  const count = Math.min(options.limit ?? train.count, train.count);
  let order = patternOrder(count, options.seed);
  const x = new Float32Array(batch * model.inputSize);
  const labels = new Uint8Array(batch);
  const predicted = new Int32Array(batch);
  const scratch = new Float32Array(model.inputSize);
  const lossEvery = options.lossEvery ?? LOSS_EVERY;
  const totalSteps = options.maxSteps ?? Infinity;
  const trainEvalCount = Math.min(count, options.evalTrainLimit ?? count);
  const started = performance.now();
  let patternsThisRun = 0;
  const threads = options.threads ?? 1;
  const parallel = threads > 1
    ? await ParallelTrainer.create(model, {
      threads,
      capacity: Math.max(batch, 100),
      registry: options.registry,
      workerUrl: options.workerUrls?.parallel,
    })
    : undefined;
  const rate = optimizer.plugin.needsCurvature ? options.curvatureRate ?? 0 : 0;
  const every = options.curvatureEvery ?? 10;
  if (!(rate >= 0 && rate <= 1) || !(Number.isInteger(every) && every >= 1)) {
    throw new RangeError(
      `FitOptions.curvatureRate must be in 0..1 and curvatureEvery an integer >= 1, got ${rate} and ${every}`,
    );
  }
  const moreToDo = () => state.passesDone < options.passes && state.steps < totalSteps;
  const worker = options.background && !parallel && moreToDo()
    ? await BackgroundEvaluator.create(model, data, {
      registry: options.registry,
      workerUrl: options.workerUrls?.evaluator,
    })
    : undefined;
  /** The pass whose evaluation runs on the worker. */
  let pending: Finished | undefined;

  /** Records a pass once its evaluation is known, and hands it to onPass. */
  const record = async (f: Finished, trainWrong: number, testWrong: number, predictions: Int32Array, secs: number) => {
    state.history.push({
      ...f.result,
      trainError: trainWrong / Math.max(1, f.trainCount),
      testError: testWrong / Math.max(1, test.count),
      evalSeconds: Math.round(secs * 1000) / 1000,
    });
    state.passesDone = f.result.pass;
    // The state as it stood at the end of the pass: a resumed run starts from there.
    const saved: FitState = worker
      ? { ...state, steps: f.steps, lossCurve: state.lossCurve.slice(0, f.lossPoints) }
      : state;
    await options.onPass?.(saved, predictions, f.snapshot);
  };
  const collect = async () => {
    const f = pending!;
    pending = undefined;
    const r = worker!.collect();
    await record(f, r.trainWrong, r.testWrong, r.testPredictions, r.seconds);
  };
  /** Stops the run: the pass still being evaluated was good, so it is recorded first. */
  const diverged = async (
    problem: string,
    pass: number,
    patterns: [number, number] | null,
    step: number,
  ): Promise<never> => {
    if (pending) await collect();
    const n = (k: number) => k.toLocaleString("en-US");
    const at = patterns === null
      ? `pass ${pass}`
      : `pass ${pass} at pattern${patterns[0] < patterns[1] ? `s ${n(patterns[0])}-` : " "}${n(patterns[1])} of ${
        n(count)
      } (update ${n(step)})`;
    throw new DivergenceError(
      `Training diverged in ${at}: ${problem}. The last good state is ${
        state.passesDone ? `the one after pass ${state.passesDone}` : "none (no pass completed)"
      }.`,
      pass,
      patterns?.[1] ?? null,
      step,
      state.passesDone,
    );
  };
  try {
    for (let pass = state.passesDone + 1; pass <= options.passes && state.steps < totalSteps; pass++) {
      const lr = learningRateOf(pass, options.schedule, optimizer.lr);
      if (options.shuffle) order = patternOrder(count, options.seed, pass);
      let stepRange: [number, number] | undefined;
      const tc = performance.now();
      if (optimizer.plugin.needsCurvature) {
        const h = curvatureFor(model, optimizer, train, order, count, pass, options);
        const steps = optimizer.plugin.stepSizes?.(optimizer.config, lr, h);
        if (steps) {
          stepRange = [
            steps.reduce((a, b) => Math.min(a, b), Infinity),
            steps.reduce((a, b) => Math.max(a, b), 0),
          ];
        }
      }
      const curvatureSeconds = (performance.now() - tc) / 1000;
      const running = rate > 0 ? Float64Array.from(model.hess) : undefined;
      const distortRng = streamFor(options.seed, pass, 3);
      const t0 = performance.now();
      let passLoss = 0, passWrong = 0, passSeen = 0, windowLoss = 0, windowSeen = 0, lastReport = t0;
      for (let s = 0; s < count && state.steps < totalSteps; s += batch) {
        if (pending && worker!.done) await collect();
        const n = Math.min(batch, count - s);
        const xs = x.subarray(0, n * model.inputSize), ls = labels.subarray(0, n);
        gather(train, order.subarray(s, s + n), xs, ls);
        if (options.distort) distortBatch(xs, n, model.inputShape, options.distort, distortRng, scratch);
        const loss = parallel
          ? parallel.trainStep(optimizer, xs, ls, n, lr, predicted)
          : trainStep(model, optimizer, xs, ls, n, lr, predicted);
        state.steps++;
        if (!Number.isFinite(loss)) await diverged(`the loss is ${loss}`, pass, [s + 1, s + n], state.steps);
        if (running && state.steps % every === 0) {
          // h_kk of the batch just trained on (after its update), blended into the running estimate.
          const h = estimateCurvature(model, xs, ls, n, { loss: options.curvatureLoss });
          for (let k = 0; k < h.length; k++) h[k] = running[k] = (1 - rate) * running[k] + rate * h[k];
          model.curvatureChanged();
        }
        for (let i = 0; i < n; i++) if (predicted[i] !== ls[i]) passWrong++;
        passLoss += loss * n;
        passSeen += n;
        windowLoss += loss * n;
        windowSeen += n;
        patternsThisRun += n;
        const seen = (pass - 1) * count + s + n;
        if (windowSeen >= lossEvery) {
          state.lossCurve.push({ patterns: seen, loss: windowLoss / windowSeen });
          windowLoss = windowSeen = 0;
        }
        const now = performance.now();
        if (options.onProgress && (now - lastReport > 1000 || s + n >= count)) {
          lastReport = now;
          const rate = patternsThisRun / ((now - started) / 1000);
          const left = (options.passes - pass) * count + (count - s - n);
          const stepsLeft = Number.isFinite(totalSteps) ? (totalSteps - state.steps) * batch : Infinity;
          options.onProgress({
            pass,
            passes: options.passes,
            done: s + n,
            total: count,
            patternsPerSecond: rate,
            eta: Math.min(left, stepsLeft) / rate,
            runningLoss: passLoss / passSeen,
            runningError: passWrong / passSeen,
          });
        }
      }
      const bad = firstNonFinite(model);
      if (bad) await diverged(`after its last update ${describeNonFinite(bad)}`, pass, null, state.steps);
      // What the next pass's re-estimate blends with is where the running estimate ended.
      if (running && typeof optimizer.state.curvature === "object") {
        optimizer.state.curvature = Float32Array.from(model.hess);
      }
      const finished: Finished = {
        result: {
          pass,
          lr,
          loss: passLoss / Math.max(1, passSeen),
          runningError: passWrong / Math.max(1, passSeen),
          seconds: (performance.now() - t0) / 1000,
          ...(optimizer.plugin.needsCurvature ? { curvatureSeconds: Math.round(curvatureSeconds * 1000) / 1000 } : {}),
          ...(stepRange ? { stepRange } : {}),
        },
        steps: state.steps,
        lossPoints: state.lossCurve.length,
        snapshot: worker
          ? { params: model.params.slice(), optimizerState: copyState(optimizer.state) }
          : { params: model.params, optimizerState: optimizer.state },
        trainCount: trainEvalCount,
      };
      if (pending) await collect();
      const last = pass === options.passes || state.steps >= totalSteps;
      if (worker && !last) {
        worker.start(finished.snapshot.params, {
          trainFrom: 0,
          trainTo: trainEvalCount,
          testFrom: 0,
          testTo: test.count,
        });
        pending = finished;
      } else if (worker) {
        // Nothing trains after the last pass: both threads evaluate it, half each.
        const te = performance.now();
        const [theirs, mine] = splitRanges(trainEvalCount, test.count);
        worker.start(finished.snapshot.params, theirs);
        const ownTrain = evaluate(model, train, { from: mine.trainFrom, limit: mine.trainTo });
        const ownTest = evaluate(model, test, { from: mine.testFrom, limit: mine.testTo });
        const r = worker.collect();
        const predictions = r.testPredictions;
        predictions.set(ownTest.predictions, mine.testFrom);
        const secs = (performance.now() - te) / 1000;
        await record(finished, r.trainWrong + ownTrain.wrong, r.testWrong + ownTest.wrong, predictions, secs);
      } else {
        const te = performance.now();
        const trainEval = evaluate(model, train, { limit: trainEvalCount, parallel });
        const testEval = evaluate(model, test, { parallel });
        const secs = (performance.now() - te) / 1000;
        await record(finished, trainEval.wrong, testEval.wrong, testEval.predictions, secs);
      }
    }
    if (pending) await collect();
  } finally {
    parallel?.close();
    worker?.close();
  }
  return state;
}
