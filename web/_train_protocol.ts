/**
 * What the Train tab (web/train.ts) and its worker (web/train_worker.ts) say
 * to each other.
 *
 * @module
 */

/** A training run: what the page asks the worker for. */
export interface TrainRequest {
  readonly kind: "train";
  readonly preset: string;
  readonly passes: number;
  readonly seed: number;
  readonly distort: boolean;
  /** Patterns per pass: the first `limit` training patterns (absent: all). */
  readonly limit?: number;
  /** The four MNIST files, by name (MNIST_FILE_NAMES). */
  readonly files: Readonly<Record<string, ArrayBuffer>>;
  /** [0]: RUN, PAUSE or STOP; null where there is no shared memory. */
  readonly control: SharedArrayBuffer | null;
}

/** Values of `TrainRequest.control[0]`. */
export const RUN = 0, PAUSE = 1, STOP = 2;
