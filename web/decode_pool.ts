/**
 * PNG request bodies decoded and made MNIST-like off the server's thread
 * (web/server.ts): a pool of Web Workers (web/_decode_worker.ts), each
 * decoding one body at a time, with a bounded queue of bodies waiting for a
 * worker and a deadline per body, counted from its arrival. A body past its
 * deadline leaves the queue, or its worker is terminated and replaced; a body
 * the full queue cannot take is refused at once. Either way the caller gets a
 * {@linkcode DecodeBusyError} (the server's 503). A worker keeps nothing from
 * one body to the next.
 *
 * @module
 */
import { ImageError } from "../data/images.ts";

/** Options of {@linkcode DecodePool}. */
export interface DecodePoolOptions {
  /** Workers decoding at once (default min(2, navigator.hardwareConcurrency)). */
  readonly workers?: number;
  /** Bodies that may wait for a worker (default 16, 0: none); one more is refused. */
  readonly queue?: number;
  /** Milliseconds from a body's arrival to its answer (default 10,000). */
  readonly deadlineMs?: number;
  /** The most pixels a PNG may have, checked at its header by the worker (default: decodePng's limits alone). */
  readonly maxPixels?: number;
  /** Milliseconds a worker may sit idle before it is terminated, its memory with it (default 5,000). */
  readonly idleMs?: number;
}

/** A PNG body, decoded and made MNIST-like. */
export interface DecodedImage {
  /** 28x28 grey levels, 0 the background (mnistify's image). */
  readonly image: Uint8Array;
  /** The PNG's width in pixels. */
  readonly width: number;
  /** The PNG's height in pixels. */
  readonly height: number;
  /** Why the picture holds no ink ("every pixel is grey level 255"), or null when it holds some. */
  readonly noInk: string | null;
}

/** A body the pool cannot take now: its queue is full, or the body's deadline passed. */
export class DecodeBusyError extends Error {
  /** `"DecodeBusyError"`: the name stack traces and `String(error)` show. */
  override name = "DecodeBusyError";
}

/** What the pool posts to a worker: one body, transferred. */
export interface DecodeJob {
  /** The job's number, sent back with the reply. */
  readonly id: number;
  /** The PNG file's bytes. */
  readonly body: ArrayBuffer;
  /** The most pixels the PNG may have. */
  readonly maxPixels?: number;
}

/** What a worker posts back: the image, or why it could not be read (`image`: an ImageError, the client's fault). */
export type DecodeReply =
  | { readonly id: number; readonly ok: true; readonly decoded: DecodedImage }
  | { readonly id: number; readonly ok: false; readonly imageError: boolean; readonly message: string };

interface Job {
  readonly id: number;
  body: Uint8Array<ArrayBuffer> | null;
  readonly resolve: (d: DecodedImage) => void;
  readonly reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface Slot {
  readonly worker: Worker;
  job: Job | null;
  /** Ends the worker once it has been idle for `idleMs`. */
  idle?: ReturnType<typeof setTimeout>;
}

const WORKER_URL = new URL("./_decode_worker.ts", import.meta.url);
/**
 * The Web Worker constructor, taken when this module loads: onnxruntime-web
 * replaces `globalThis.Worker` with Node's worker_threads one when it creates
 * its first session.
 */
const WebWorker = globalThis.Worker;

const integerFrom = (least: number, name: string, v: number) => {
  if (!Number.isSafeInteger(v) || v < least) {
    throw new RangeError(`Cannot start the decode pool: option "${name}" must be an integer >= ${least}, got ${v}`);
  }
  return v;
};

/** Workers that decode PNG bodies one at a time each, with a bounded queue and a deadline per body. */
export class DecodePool {
  /** Workers decoding at once. */
  readonly workers: number;
  /** Bodies that may wait for a worker. */
  readonly queue: number;
  /** Milliseconds from a body's arrival to its answer. */
  readonly deadlineMs: number;
  /** The most pixels a PNG may have, or undefined. */
  readonly maxPixels?: number;
  /** Milliseconds a worker may sit idle before it is terminated. */
  readonly idleMs: number;
  readonly #slots: Slot[] = [];
  readonly #waiting: Job[] = [];
  #jobs = 0;
  #closed = false;

  constructor(options: DecodePoolOptions = {}) {
    this.workers = integerFrom(1, "workers", options.workers ?? Math.min(2, navigator.hardwareConcurrency || 1));
    this.queue = integerFrom(0, "queue", options.queue ?? 16);
    this.deadlineMs = integerFrom(1, "deadlineMs", options.deadlineMs ?? 10_000);
    this.maxPixels = options.maxPixels;
    this.idleMs = integerFrom(1, "idleMs", options.idleMs ?? 5_000);
  }

  /** Workers alive now: busy ones, and idle ones not yet ended. */
  get running(): number {
    return this.#slots.length;
  }

  /** Bodies decoding or waiting. */
  get pending(): number {
    return this.#waiting.length + this.#slots.filter((s) => s.job).length;
  }

  /**
   * Decodes a PNG body (its buffer is transferred to a worker: `body` is
   * empty afterwards) and makes it MNIST-like. Rejects with an ImageError
   * for a body that is not a readable PNG, a DecodeBusyError when the queue
   * is full or the deadline passes.
   */
  decode(body: Uint8Array<ArrayBuffer>): Promise<DecodedImage> {
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new Error("Cannot decode: the decode pool is closed"));
      const slot = this.#idle();
      if (!slot && this.#waiting.length >= this.queue) {
        return reject(new DecodeBusyError(`the decode queue is full: ${this.#waiting.length} PNGs wait for a worker`));
      }
      // A body sharing its buffer is copied, so that the transfer takes nothing else.
      const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : body.slice();
      const job: Job = { id: ++this.#jobs, body: own, resolve, reject };
      job.timer = setTimeout(() => this.#expire(job), this.deadlineMs);
      if (slot) this.#run(slot, job);
      else this.#waiting.push(job);
    });
  }

  /** Terminates the workers; what is pending is rejected. */
  close(): void {
    this.#closed = true;
    const jobs = [...this.#waiting, ...this.#slots.flatMap((s) => (s.job ? [s.job] : []))];
    this.#waiting.length = 0;
    for (const s of this.#slots) clearTimeout(s.idle), s.worker.terminate();
    this.#slots.length = 0;
    for (const job of jobs) this.#settle(job, new Error("Cannot decode: the decode pool is closed"));
  }

  /** An idle worker, started if there are fewer than `workers`; or undefined. */
  #idle(): Slot | undefined {
    const idle = this.#slots.find((s) => !s.job);
    if (idle || this.#slots.length >= this.workers) return idle;
    const slot: Slot = { worker: new WebWorker(WORKER_URL, { type: "module" }), job: null };
    slot.worker.onmessage = (e: MessageEvent<DecodeReply>) => this.#reply(slot, e.data);
    slot.worker.onerror = (e) => {
      e.preventDefault(); // the worker's failure is this job's, not the server's
      this.#drop(slot, new Error(`the decode worker failed: ${e.message}`));
    };
    slot.worker.onmessageerror = () => this.#drop(slot, new Error("the decode worker's reply could not be read"));
    this.#slots.push(slot);
    return slot;
  }

  #run(slot: Slot, job: Job): void {
    clearTimeout(slot.idle);
    slot.idle = undefined;
    slot.job = job;
    const body = job.body!;
    job.body = null;
    const message: DecodeJob = { id: job.id, body: body.buffer, maxPixels: this.maxPixels };
    slot.worker.postMessage(message, [body.buffer]);
  }

  #reply(slot: Slot, reply: DecodeReply): void {
    const job = slot.job;
    if (!job || job.id !== reply.id) return;
    slot.job = null;
    if (reply.ok) this.#settle(job, null, reply.decoded);
    else this.#settle(job, reply.imageError ? new ImageError(reply.message) : new Error(reply.message));
    this.#next();
  }

  /** Terminates a slot's worker and removes it; its job, if any, fails with `error`. */
  #drop(slot: Slot, error: Error): void {
    clearTimeout(slot.idle);
    slot.worker.terminate();
    this.#slots.splice(this.#slots.indexOf(slot), 1);
    if (slot.job) this.#settle(slot.job, error);
    this.#next();
  }

  #expire(job: Job): void {
    const error = new DecodeBusyError(`decoding took longer than the deadline of ${this.deadlineMs / 1000} s`);
    const at = this.#waiting.indexOf(job);
    if (at >= 0) {
      this.#waiting.splice(at, 1);
      this.#settle(job, error);
      return;
    }
    const slot = this.#slots.find((s) => s.job === job);
    if (slot) this.#drop(slot, error);
  }

  #settle(job: Job, error: Error | null, decoded?: DecodedImage): void {
    clearTimeout(job.timer);
    job.body = null;
    if (error) job.reject(error);
    else job.resolve(decoded!);
  }

  /** Starts waiting bodies on idle workers; a worker left with nothing to do ends after `idleMs`. */
  #next(): void {
    while (!this.#closed && this.#waiting.length > 0) {
      const slot = this.#idle();
      if (!slot) return;
      this.#run(slot, this.#waiting.shift()!);
    }
    for (const slot of this.#slots) {
      if (slot.job || slot.idle !== undefined) continue;
      slot.idle = setTimeout(() => {
        if (slot.job) return;
        slot.worker.terminate();
        this.#slots.splice(this.#slots.indexOf(slot), 1);
      }, this.idleMs);
    }
  }
}
