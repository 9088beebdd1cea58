/**
 * Data-parallel training and inference of one model on several threads:
 * the calling thread and `threads - 1` workers, each holding a replica of the
 * model whose parameters are a view of one SharedArrayBuffer.
 *
 * A batch is split into contiguous shares, the calling thread taking the
 * first. Each thread back-propagates its share with the scale of the whole
 * batch into its own gradient buffer; the calling thread then adds the
 * workers' gradients to its own in worker order and takes the optimizer step
 * on the model. So a result depends on the seed and the thread count only
 * (not on timing); with one thread, or a batch smaller than the thread
 * count, it is exactly `trainStep`.
 *
 * The workers build their replicas from the graph, importing each plugin
 * from the module URL it was registered with (engine/plugin_modules.ts).
 * Threads meet through Atomics.wait and Atomics.notify on a shared control
 * array.
 *
 * @module
 */
import { argmaxRows, type Model } from "./model.ts";
import { type Optimizer, trainStep } from "./train.ts";
import type { Floats, Labels } from "./types.ts";
import { type PluginModule, pluginModules } from "./plugin_modules.ts";
import type { Registries } from "./registry.ts";

/** Slots of the control array. */
export const CONTROL = {
  /** Job number, bumped to start a job. */
  SEQ: 0,
  /** What to do: one of the OP codes. */
  OP: 1,
  /** Samples in the whole batch. */
  TOTAL: 2,
  /** Per worker w: the job number it finished is at DONE + w, its first sample at START + w, its count at COUNT + w. */
  DONE: 8,
  START: 8 + 64,
  COUNT: 8 + 128,
  SIZE: 8 + 192,
} as const;

/** Samples the calling thread takes fewer than an even share (it also does the serial work). */
const LIGHTER = 1;

/** Jobs a worker does. */
export const OP = { TRAIN: 1, INFER: 2, STOP: 3 } as const;

/** What a worker gets once, to build its replica. */
export interface WorkerInit {
  readonly index: number;
  readonly graph: unknown;
  readonly dtype: "float32" | "float64";
  /** The kernel backend of the model the replica copies (`Model.kernels`). */
  readonly kernels: string;
  /** The graph's plugins, by module URL. */
  readonly plugins: readonly PluginModule[];
  readonly capacity: number;
  readonly params: SharedArrayBuffer;
  readonly grads: SharedArrayBuffer;
  readonly input: SharedArrayBuffer;
  readonly labels: SharedArrayBuffer;
  readonly scores: SharedArrayBuffer;
  readonly losses: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
}

/** Options of {@linkcode ParallelTrainer.create}. */
export interface ParallelOptions {
  /** Threads in all, the calling one included (default 2). */
  readonly threads?: number;
  /** Largest batch a call may pass (default 1,024). */
  readonly capacity?: number;
  /**
   * Where the model's plugins were registered (default `model.registry`, the
   * one it was built with): the workers import each plugin from the module
   * URL registered with it.
   */
  readonly registry?: Registries;
  /** The workers' script (default engine/_parallel_worker.ts beside this file; a bundle gives its own build of it). */
  readonly workerUrl?: string | URL;
}

/**
 * A worker running the module at `url`, once it has `init` and said "ready";
 * if it fails first, it is terminated and the error names `what`. From then on
 * it reports through shared memory: its uncaught errors reach this thread.
 */
export async function startWorker(url: string | URL, init: unknown, what: string, transfer: Transferable[] = []) {
  const worker = new Worker(new URL(url).href, { type: "module" });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = (e) => (e.data === "ready" ? resolve() : reject(new Error(String(e.data))));
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`Cannot start ${what}: ${e.message}`));
      };
      worker.postMessage(init, { transfer });
    });
  } catch (e) {
    worker.terminate();
    throw e;
  }
  worker.onmessage = worker.onerror = null;
  return worker;
}

/** A view of a shared buffer as the model's element type. */
export function floatView(dtype: "float32" | "float64", buffer: SharedArrayBuffer): Floats {
  return dtype === "float64" ? new Float64Array(buffer) : new Float32Array(buffer);
}

/**
 * A model trained and run by several threads. Create with
 * {@linkcode ParallelTrainer.create}; `close` it after (in a `finally`): its
 * workers keep the process alive until then.
 */
export class ParallelTrainer {
  /** The model trained, the calling thread's; the workers copy its weights at each call. */
  readonly model: Model;
  /** Threads in all, the calling one included. */
  readonly threads: number;
  /** Largest batch a call may pass. */
  readonly capacity: number;
  readonly #workers: Worker[];
  readonly #params: Floats;
  readonly #grads: Floats[];
  readonly #input: Floats;
  readonly #labels: Int32Array;
  readonly #scores: Floats;
  readonly #out: Floats;
  readonly #losses: Float64Array;
  readonly #control: Int32Array;
  #seq = 0;

  private constructor(model: Model, capacity: number, workers: Worker[], init: WorkerInit[]) {
    this.model = model;
    this.threads = workers.length + 1;
    this.capacity = capacity;
    this.#workers = workers;
    const shared = init[0], F = model.dtype === "float64" ? Float64Array : Float32Array;
    const view = (b: SharedArrayBuffer | undefined) => (b ? floatView(model.dtype, b) : new F(0));
    this.#params = shared ? view(shared.params) : model.params;
    this.#grads = init.map((i) => view(i.grads));
    this.#input = view(shared?.input);
    this.#labels = shared ? new Int32Array(shared.labels) : new Int32Array(0);
    this.#scores = view(shared?.scores);
    this.#out = new F(this.capacity * model.classes);
    this.#losses = shared ? new Float64Array(shared.losses) : new Float64Array(0);
    this.#control = shared ? new Int32Array(shared.control) : new Int32Array(CONTROL.SIZE);
  }

  /** Starts `threads - 1` workers holding replicas of `model` (built from its graph). */
  static async create(model: Model, options: ParallelOptions = {}): Promise<ParallelTrainer> {
    const threads = options.threads ?? 2;
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new RangeError(`Cannot train in parallel: threads must be an integer in 1..64, got ${threads}`);
    }
    const capacity = options.capacity ?? 1024;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot train in parallel: capacity must be a positive integer, got ${capacity}`);
    }
    const bytes = (count: number) => new SharedArrayBuffer(count * (model.dtype === "float64" ? 8 : 4));
    const common = {
      graph: model.graph,
      dtype: model.dtype,
      kernels: model.kernels,
      plugins: threads > 1 ? pluginModules(model, options.registry ?? model.registry, "train on several threads") : [],
      capacity,
      params: bytes(model.params.length),
      input: bytes(capacity * model.inputSize),
      labels: new SharedArrayBuffer(capacity * 4),
      scores: bytes(capacity * model.classes),
      losses: new SharedArrayBuffer(64 * 8),
      control: new SharedArrayBuffer(CONTROL.SIZE * 4),
    };
    floatView(model.dtype, common.params).set(model.params);
    const init: WorkerInit[] = [];
    const workers: Worker[] = [];
    try {
      for (let w = 0; w < threads - 1; w++) {
        const i: WorkerInit = { ...common, index: w, grads: bytes(model.trainableCount) };
        const url = options.workerUrl ?? new URL("./_parallel_worker.ts", import.meta.url);
        workers.push(await startWorker(url, i, "a training worker"));
        init.push(i);
      }
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new ParallelTrainer(model, capacity, workers, init);
  }

  /** First sample and count of thread t (0 = the calling thread) in a batch of n. */
  #share(t: number, n: number): [number, number] {
    // The calling thread also sums the gradients and takes the step: on batches of 8 or more per thread it
    // takes LIGHTER samples fewer than an even share, and the workers share the rest evenly.
    const T = this.threads, own = T > 1 && n >= 8 * T ? Math.floor(n / T) - LIGHTER : Math.ceil(n / T);
    if (t === 0) return [0, own];
    const rest = n - own, W = T - 1, base = Math.floor(rest / W), extra = rest % W, w = t - 1;
    return [own + w * base + Math.min(w, extra), base + (w < extra ? 1 : 0)];
  }

  /** Hands the workers their shares of a batch and starts them; returns the job number. */
  #start(op: number, inputs: ArrayLike<number>, labels: Labels | null, n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > this.capacity) {
      throw new RangeError(`Cannot run in parallel: batch size must be an integer in 1..${this.capacity}, got ${n}`);
    }
    const size = this.model.inputSize, ctrl = this.#control;
    if (inputs.length < n * size) {
      throw new RangeError(`Cannot run in parallel: input holds ${inputs.length} values, expected ${n * size}`);
    }
    this.#params.set(this.model.params);
    const [first] = this.#share(1, n);
    for (let i = first * size; i < n * size; i++) this.#input[i] = inputs[i];
    if (labels) { for (let i = first; i < n; i++) this.#labels[i] = labels[i]; }
    const seq = ++this.#seq;
    ctrl[CONTROL.OP] = op;
    ctrl[CONTROL.TOTAL] = n;
    for (let w = 0; w < this.#workers.length; w++) {
      const [start, count] = this.#share(w + 1, n);
      ctrl[CONTROL.START + w] = start;
      ctrl[CONTROL.COUNT + w] = count;
    }
    Atomics.store(ctrl, CONTROL.SEQ, seq);
    Atomics.notify(ctrl, CONTROL.SEQ);
    return seq;
  }

  /** Waits until every worker finished job `seq`. */
  #wait(seq: number): void {
    const ctrl = this.#control;
    for (let w = 0; w < this.#workers.length; w++) {
      for (let done = Atomics.load(ctrl, CONTROL.DONE + w); done !== seq; done = Atomics.load(ctrl, CONTROL.DONE + w)) {
        if (done < 0) throw new Error(`A training worker failed (worker ${w})`);
        Atomics.wait(ctrl, CONTROL.DONE + w, done, 10_000);
      }
    }
  }

  /**
   * One update on a batch, as `trainStep` does it, with the batch shared by
   * the threads. Returns the batch's mean loss before the update; with
   * `predictions`, also the predicted class of each pattern before it.
   */
  trainStep(
    optimizer: Optimizer,
    inputs: ArrayLike<number>,
    labels: Labels,
    n: number,
    lr?: number,
    predictions?: Int32Array,
  ): number {
    const model = this.model;
    // A batch smaller than the thread count leaves the calling thread alone here (with the same result).
    if (n < this.threads && n >= 1) return trainStep(model, optimizer, inputs, labels, n, lr, predictions);
    const seq = this.#start(OP.TRAIN, inputs, labels, n);
    const [, own] = this.#share(0, n);
    const size = model.inputSize;
    model.zeroGrads();
    model.forward(ArrayBuffer.isView(inputs) ? (inputs as Floats).subarray(0, own * size) : inputs, own);
    if (predictions) model.predictions(predictions.subarray(0, own));
    const ownLabels = ArrayBuffer.isView(labels)
      ? (labels as Int32Array).subarray(0, own)
      : Array.prototype.slice.call(labels, 0, own);
    let loss = model.backward(ownLabels, { scale: 1 / n }) * own;
    this.#wait(seq);
    const g = model.grads;
    for (let w = 0; w < this.#workers.length; w++) {
      const wg = this.#grads[w];
      for (let k = 0; k < g.length; k++) g[k] += wg[k];
      loss += this.#losses[w];
    }
    if (predictions && n > own) {
      // The workers left their scores in the shared array, as for inference.
      const k = model.classes, probs = this.#out.subarray(0, (n - own) * k);
      model.loss.plugin.probabilities(model.loss.config, this.#scores.subarray(own * k, n * k), n - own, k, probs);
      argmaxRows(probs, n - own, k, predictions.subarray(own, n));
    }
    optimizer.step(model, lr);
    return loss / n;
  }

  /** Scores of a batch (n x classes), computed by all threads; valid until the next call. */
  forward(inputs: ArrayLike<number>, n: number): Floats {
    const model = this.model, k = model.classes, size = model.inputSize;
    const seq = this.#start(OP.INFER, inputs, null, n);
    const [, own] = this.#share(0, n);
    const out = this.#out;
    out.set(model.forward(ArrayBuffer.isView(inputs) ? (inputs as Floats).subarray(0, own * size) : inputs, own));
    this.#wait(seq);
    out.set(this.#scores.subarray(own * k, n * k), own * k);
    return out.subarray(0, n * k);
  }

  /** Stops the workers. */
  close(): void {
    const ctrl = this.#control;
    ctrl[CONTROL.OP] = OP.STOP;
    Atomics.store(ctrl, CONTROL.SEQ, ++this.#seq);
    Atomics.notify(ctrl, CONTROL.SEQ);
    for (const w of this.#workers) w.terminate();
    this.#workers.length = 0;
  }
}
