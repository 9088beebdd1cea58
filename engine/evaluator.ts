/**
 * Evaluation on a second thread: a worker holds a replica of the model and
 * its own copy of the data, and scores a snapshot of the weights while the
 * calling thread goes on (with the next training pass). Results come back
 * through shared memory, so the calling thread can look for them between two
 * updates without yielding to the event loop.
 *
 * The worker runs the same `evaluate` as the calling thread, with the same
 * batches, so its predictions are the ones the calling thread would make.
 *
 * @module
 */
import type { Split } from "../data/split.ts";
import type { Model } from "./model.ts";
import { floatView, startWorker } from "./parallel.ts";
import { type PluginModule, pluginModules } from "./plugin_modules.ts";
import type { Registries } from "./registry.ts";

/** Slots of the control array. */
export const EVAL = {
  /** Job number, bumped to start a job (negative: stop). */
  SEQ: 0,
  /** The job number finished (-1: the worker failed). */
  DONE: 1,
  /** The job's ranges: training patterns [TRAIN_FROM, TRAIN_TO), test patterns [TEST_FROM, TEST_TO). */
  TRAIN_FROM: 2,
  TRAIN_TO: 3,
  TEST_FROM: 4,
  TEST_TO: 5,
  /** Patterns the job misclassified in each range. */
  TRAIN_WRONG: 6,
  TEST_WRONG: 7,
  /** Milliseconds the job took. */
  MILLIS: 8,
  /** Slots in all. */
  SIZE: 9,
} as const;

/** The most bytes of the reason a failed evaluation worker gives. */
export const ERROR_BYTES = 2048;

/** What the worker gets once. */
export interface EvalWorkerInit {
  readonly graph: unknown;
  readonly dtype: "float32" | "float64";
  /** The kernel backend of the model the replica copies (`Model.kernels`). */
  readonly kernels: string;
  /** The graph's plugins, by module URL. */
  readonly plugins: readonly PluginModule[];
  readonly params: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  /** Test predictions of the worker's range, at their pattern index. */
  readonly predictions: SharedArrayBuffer;
  /** Why the worker failed, as UTF-8 text (ERROR_BYTES at most), written before DONE becomes -1. */
  readonly error: SharedArrayBuffer;
  /** Copies of the splits, handed over once. */
  readonly train: Split;
  readonly test: Split;
}

/** Patterns [from, to) of the training and of the test split. */
export interface EvalRanges {
  /** First training pattern. */
  readonly trainFrom: number;
  /** One past the last training pattern. */
  readonly trainTo: number;
  /** First test pattern. */
  readonly testFrom: number;
  /** One past the last test pattern. */
  readonly testTo: number;
}

/** What a finished job measured. */
export interface EvalResult {
  /** Training patterns of the job's range misclassified. */
  readonly trainWrong: number;
  /** Test patterns of the job's range misclassified. */
  readonly testWrong: number;
  /** Predicted class of every test pattern; only the job's range is filled in. */
  readonly testPredictions: Int32Array;
  /** Wall time of the job on the worker. */
  readonly seconds: number;
}

/**
 * One worker that evaluates snapshots of a model's weights on a training and
 * a test split. Create with {@linkcode BackgroundEvaluator.create}; `close` it
 * after (in a `finally`): its worker keeps the process alive until then.
 */
export class BackgroundEvaluator {
  readonly #worker: Worker;
  readonly #params: Float32Array | Float64Array;
  readonly #control: Int32Array;
  readonly #error: Uint8Array;
  readonly #predictions: Int32Array;
  #seq = 0;
  #busy = false;

  private constructor(worker: Worker, init: EvalWorkerInit) {
    this.#worker = worker;
    this.#params = floatView(init.dtype, init.params);
    this.#control = new Int32Array(init.control);
    this.#predictions = new Int32Array(init.predictions);
    this.#error = new Uint8Array(init.error);
  }

  /**
   * Starts the worker with a replica of `model` (built from its graph) and a
   * copy of both splits. `options.registry` (default `model.registry`) gives
   * the module URLs of the model's plugins.
   */
  static async create(
    model: Model,
    data: { train: Split; test: Split },
    options: {
      registry?: Registries;
      /** The worker's script (default engine/_eval_worker.ts beside this file; a bundle gives its own build of it). */
      workerUrl?: string | URL;
    } = {},
  ): Promise<BackgroundEvaluator> {
    const copy = (s: Split): Split => ({
      images: s.images.slice(),
      labels: s.labels.slice(),
      count: s.count,
      rows: s.rows,
      cols: s.cols,
    });
    const init: EvalWorkerInit = {
      graph: model.graph,
      dtype: model.dtype,
      kernels: model.kernels,
      plugins: pluginModules(model, options.registry ?? model.registry, "evaluate on a second thread"),
      params: new SharedArrayBuffer(model.params.length * (model.dtype === "float64" ? 8 : 4)),
      control: new SharedArrayBuffer(EVAL.SIZE * 4),
      predictions: new SharedArrayBuffer(data.test.count * 4),
      error: new SharedArrayBuffer(ERROR_BYTES),
      train: copy(data.train),
      test: copy(data.test),
    };
    const url = options.workerUrl ?? new URL("./_eval_worker.ts", import.meta.url);
    const transfer = [init.train.images.buffer, init.test.images.buffer] as ArrayBuffer[];
    return new BackgroundEvaluator(await startWorker(url, init, "the evaluation worker", transfer), init);
  }

  /** Starts scoring `params` (all of the model's, fixed ones too) on `ranges`; one job at a time. */
  start(params: ArrayLike<number>, ranges: EvalRanges): void {
    if (this.#busy) throw new Error("Cannot start an evaluation: the last one has not been collected");
    const c = this.#control;
    this.#params.set(params);
    c[EVAL.TRAIN_FROM] = ranges.trainFrom;
    c[EVAL.TRAIN_TO] = ranges.trainTo;
    c[EVAL.TEST_FROM] = ranges.testFrom;
    c[EVAL.TEST_TO] = ranges.testTo;
    this.#busy = true;
    Atomics.store(c, EVAL.SEQ, ++this.#seq);
    Atomics.notify(c, EVAL.SEQ);
  }

  /** Whether the started job has finished (a cheap check, made between two updates). */
  get done(): boolean {
    const d = Atomics.load(this.#control, EVAL.DONE);
    if (d < 0) throw this.#failure();
    return this.#busy && d === this.#seq;
  }

  /** The worker's failure, with the reason it wrote. */
  #failure(): Error {
    const text = new TextDecoder().decode(this.#error.slice()).replace(/\0+$/, "");
    return new Error(`The evaluation worker failed: ${text || "it gave no reason"}`);
  }

  /** Waits for the started job and returns what it measured. */
  collect(): EvalResult {
    if (!this.#busy) throw new Error("Cannot collect an evaluation: none was started");
    const c = this.#control;
    for (let d = Atomics.load(c, EVAL.DONE); d !== this.#seq; d = Atomics.load(c, EVAL.DONE)) {
      if (d < 0) throw this.#failure();
      Atomics.wait(c, EVAL.DONE, d, 10_000);
    }
    this.#busy = false;
    return {
      trainWrong: c[EVAL.TRAIN_WRONG],
      testWrong: c[EVAL.TEST_WRONG],
      testPredictions: this.#predictions.slice(),
      seconds: c[EVAL.MILLIS] / 1000,
    };
  }

  /** Stops the worker. */
  close(): void {
    Atomics.store(this.#control, EVAL.SEQ, -1);
    Atomics.notify(this.#control, EVAL.SEQ);
    this.#worker.terminate();
  }
}

/**
 * Splits the evaluation of training patterns [0, trainTo) and test patterns
 * [0, testTo) in two halves of equal size: the first (training patterns
 * first) for the worker, the rest for the calling thread.
 *
 * @example
 * ```ts
 * import { splitRanges } from "./evaluator.ts";
 * const [worker, own] = splitRanges(60000, 10000);
 * if (worker.trainTo !== 35000 || own.trainFrom !== 35000 || own.testTo !== 10000) throw new Error("halves");
 * ```
 */
export function splitRanges(trainTo: number, testTo: number): [EvalRanges, EvalRanges] {
  const half = Math.floor((trainTo + testTo) / 2);
  const t = Math.min(half, trainTo), s = Math.max(0, half - trainTo);
  return [{ trainFrom: 0, trainTo: t, testFrom: 0, testTo: s }, { trainFrom: t, trainTo, testFrom: s, testTo }];
}
