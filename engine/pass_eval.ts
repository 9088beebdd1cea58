/**
 * When and where each pass's weights are evaluated during `fit`: at once on
 * the calling thread (shared with the parallel trainer's workers when there
 * are some), or on a background worker while the next pass trains, the last
 * pass's evaluation shared by both threads.
 *
 * @module
 */
import { type DataSource, isSplit } from "../data/source.ts";
import type { Split } from "../data/split.ts";
import { evaluate, type Scorer } from "./evaluate.ts";
import { BackgroundEvaluator, type EvalResult, splitRanges } from "./evaluator.ts";
import type { Model } from "./model.ts";
import type { Registries } from "./registry.ts";
import type { Floats } from "./types.ts";

/** What evaluating one pass's weights found: wrong training (of the first `trainCount`) and test patterns, every test prediction. */
export type PassEvaluation = EvalResult;

/** How `PassEvaluations.create` evaluates. */
export interface PassEvalOptions {
  /** Training patterns evaluated: the first this many. */
  readonly trainCount: number;
  /** Evaluate on a background worker while the next pass trains (image splits only). */
  readonly background: boolean;
  /** The parallel trainer whose threads share the evaluation, if any. */
  readonly parallel?: Scorer;
  /** Where the model's plugins were registered (for the worker). */
  readonly registry?: Registries;
  /** The worker's script. */
  readonly workerUrl?: string | URL;
}

/**
 * Evaluations of the passes of one run, in pass order. `submit` hands over a pass's weights and returns the evaluations
 * that finished with it; `poll` (between updates) and `finish` return one that finished in the background.
 */
export class PassEvaluations<T> {
  #pending: T | undefined;

  private constructor(
    readonly model: Model,
    readonly data: { readonly train: Split | DataSource; readonly test: Split | DataSource },
    readonly options: PassEvalOptions,
    readonly worker: BackgroundEvaluator | undefined,
  ) {}

  /** Starts the background worker when `options.background` asks for one. */
  static async create<T>(
    model: Model,
    data: { readonly train: Split | DataSource; readonly test: Split | DataSource },
    options: PassEvalOptions,
  ): Promise<PassEvaluations<T>> {
    let worker: BackgroundEvaluator | undefined;
    if (options.background) {
      const { train, test } = data;
      if (!isSplit(train) || !isSplit(test)) {
        throw new TypeError("Cannot evaluate in the background: FitOptions.background needs image splits");
      }
      worker = await BackgroundEvaluator.create(model, { train, test }, options);
    }
    return new PassEvaluations<T>(model, data, options, worker);
  }

  /** Whether evaluations run on the background worker (and so land during the next pass). */
  get background(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Evaluates the weights `params` at the end of pass `tag` (all of the model's; with a worker, a copy the model no
   * longer changes), `last` when no pass trains after it. Returns the evaluations finished: the one still pending
   * first.
   */
  submit(tag: T, params: Floats, last: boolean): [T, PassEvaluation][] {
    const done = this.finish();
    const finished: [T, PassEvaluation][] = done ? [done] : [];
    const { model, data, options, worker } = this;
    const test = data.test.count;
    if (worker && !last) {
      worker.start(params, { trainFrom: 0, trainTo: options.trainCount, testFrom: 0, testTo: test });
      this.#pending = tag;
      return finished;
    }
    const t0 = performance.now();
    const result = (trainWrong: number, testWrong: number, testPredictions: Int32Array): [T, PassEvaluation] => [
      tag,
      { trainWrong, testWrong, testPredictions, seconds: (performance.now() - t0) / 1000 },
    ];
    if (worker) {
      // Nothing trains after the last pass: both threads evaluate it, half each.
      const [theirs, mine] = splitRanges(options.trainCount, test);
      worker.start(params, theirs);
      const ownTrain = evaluate(model, data.train, { from: mine.trainFrom, limit: mine.trainTo });
      const ownTest = evaluate(model, data.test, { from: mine.testFrom, limit: mine.testTo });
      const r = worker.collect();
      r.testPredictions.set(ownTest.predictions, mine.testFrom);
      finished.push(result(r.trainWrong + ownTrain.wrong, r.testWrong + ownTest.wrong, r.testPredictions));
    } else {
      const trainEval = evaluate(model, data.train, { limit: options.trainCount, parallel: options.parallel });
      const testEval = evaluate(model, data.test, { parallel: options.parallel });
      finished.push(result(trainEval.wrong, testEval.wrong, testEval.predictions));
    }
    return finished;
  }

  /** The background evaluation, if it has finished (a cheap check between two updates). */
  poll(): [T, PassEvaluation] | undefined {
    return this.#pending !== undefined && this.worker!.done ? this.finish() : undefined;
  }

  /** Waits for the background evaluation still running, if any. */
  finish(): [T, PassEvaluation] | undefined {
    const tag = this.#pending;
    if (tag === undefined) return undefined;
    this.#pending = undefined;
    return [tag, this.worker!.collect()];
  }

  /** Stops the worker. */
  close(): void {
    this.worker?.close();
  }
}
