/**
 * The `wasm` kernel backend: the WebAssembly SIMD module
 * (engine/wasm/assembly/kernels.ts, built into kernels_wasm.ts by `deno task
 * build:wasm`), its memory and its vector kernels. The layer kernels that
 * call the module's exports are registered under the backend's name
 * (`KernelRegistry`; the built-ins' in layers/_wasm_kernels.ts).
 *
 * Each model gets its own shared WebAssembly memory and puts every buffer in
 * it (parameters, gradients, second derivatives, activations), so the kernels
 * work in place with no copy per step. The memory is shared (backed by a
 * SharedArrayBuffer) so that it can grow without detaching the views the
 * model holds. A page needs cross-origin isolation for that; where shared
 * memory or SIMD is missing, {@linkcode wasmKernelsProblem} says why and
 * `kernels: "auto"` falls back to the JS kernels.
 *
 * @module
 */
import type { KernelBackend } from "../kernels.ts";
import type { Floats } from "../types.ts";
import { fromBase64 } from "../base64.ts";
import { WASM_KERNELS_BASE64 } from "./kernels_wasm.ts";

const PAGE = 65536;
/** Addresses below this are left to the module itself (it has no data; address 0 means "none" to the kernels). */
const BASE = PAGE;
/** Bytes kept free after every buffer: the kernels' last SIMD loads may read up to 12 bytes past a row. */
const SLACK = 64;
/** The largest memory a model may use: 2 GiB (the engine allows 1 GiB of buffers, engine/limits.ts), as the module declares it. */
const MAX_PAGES = 32768;

/** An address in the module's memory, or a count. */
type N = number;

/** The module's exports: kernels on addresses in its memory. */
export interface WasmExports {
  denseForward(x: N, W: N, bias: N, y: N, n: N, m: N, units: N): void;
  denseBackward(x: N, W: N, d: N, dx: N, gW: N, gb: N, n: N, m: N, units: N): void;
  conv5Forward(x: N, W: N, bias: N, y: N, n: N, inMaps: N, h: N, w: N, maps: N, start: N, inputs: N): void;
  conv5Backward(
    x: N,
    W: N,
    d: N,
    dx: N,
    gW: N,
    gb: N,
    n: N,
    inMaps: N,
    h: N,
    w: N,
    maps: N,
    inputStart: N,
    byInput: N,
    outputOf: N,
    tmp: N,
  ): void;
  squares(a: N, out: N, count: N): void;
  scaledStep(params: N, steps: N, grads: N, count: N): void;
  scaledTanhForward(x: N, y: N, count: N, A: N, S: N): void;
  scaledTanhBackward(y: N, dy: N, dx: N, count: N, A: N, S: N, square: N): void;
  subsample2Forward(x: N, coef: N, bias: N, y: N, n: N, maps: N, h: N, w: N): void;
  subsample2Backward(x: N, coef: N, d: N, dx: N, gc: N, gb: N, n: N, maps: N, h: N, w: N, square: N): void;
  reluForward(x: N, y: N, count: N): void;
  reluBackward(x: N, dy: N, dx: N, count: N): void;
  maxpool2Forward(x: N, y: N, planes: N, h: N, w: N): void;
  maxpool2Backward(x: N, d: N, dx: N, planes: N, h: N, w: N): void;
}

let bytes: Uint8Array | undefined;
let compiled: WebAssembly.Module | undefined;

function moduleBytes(): Uint8Array {
  return bytes ??= fromBase64(WASM_KERNELS_BASE64);
}

/**
 * Why the WASM kernels cannot run here (no WebAssembly, no SIMD or threads,
 * no SharedArrayBuffer: a page that is not cross-origin isolated), or null
 * when they can.
 */
export function wasmKernelsProblem(): string | null {
  return (problemFound ??= { problem: findProblem() }).problem;
}

let problemFound: { problem: string | null } | undefined;

function findProblem(): string | null {
  if (typeof WebAssembly === "undefined") return "this runtime has no WebAssembly";
  if (typeof SharedArrayBuffer === "undefined") {
    return "SharedArrayBuffer is not available (a web page needs cross-origin isolation: COOP and COEP headers)";
  }
  if (!WebAssembly.validate(moduleBytes() as BufferSource)) return "this WebAssembly lacks SIMD or threads";
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (e) {
    return `this WebAssembly cannot make a shared memory (${e instanceof Error ? e.message : String(e)})`;
  }
  return null;
}

/**
 * Compiles the kernels' module ahead of time, asynchronously. Optional: a
 * model compiles it on first use, synchronously, which a browser's main
 * thread may refuse for a module this size; call this first there.
 */
export async function loadWasmKernels(): Promise<void> {
  compiled ??= await WebAssembly.compile(moduleBytes() as BufferSource);
}

/** One model's memory: a bump allocator over a shared WebAssembly memory, and the kernels bound to it. */
export class WasmArena {
  /** The shared memory every buffer of the model lives in. */
  readonly memory: WebAssembly.Memory;
  /** The module's kernels, bound to `memory`. */
  readonly k: WasmExports;
  #top = BASE;
  #buffers = new WeakSet<ArrayBufferLike>();
  #scratch = 0;
  #scratchBytes = 0;

  /** A new memory and module instance. */
  constructor() {
    compiled ??= new WebAssembly.Module(moduleBytes() as BufferSource);
    this.memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(compiled, { env: { memory: this.memory } });
    this.k = instance.exports as unknown as WasmExports;
  }

  /** `bytes` more bytes at a 16-byte boundary, zeroed (fresh memory is never reused). */
  #take(bytes: number): number {
    const at = this.#top;
    const top = at + Math.ceil((bytes + SLACK) / 16) * 16;
    const have = this.memory.buffer.byteLength;
    if (top > have) {
      const pages = Math.ceil((top - have) / PAGE);
      if (have / PAGE + pages > MAX_PAGES) {
        throw new RangeError(
          `Cannot allocate ${bytes} bytes of WASM kernel memory: the model's memory would pass ${MAX_PAGES / 16} MiB`,
        );
      }
      this.memory.grow(pages);
    }
    this.#top = top;
    return at;
  }

  /** A zeroed float64 view of `length` values in the memory. */
  doubles(length: number): Float64Array {
    const at = this.#take(length * 8);
    const view = new Float64Array(this.memory.buffer, at, length);
    this.#buffers.add(view.buffer);
    return view;
  }

  /** A zeroed float32 view of `length` values in the memory. */
  floats(length: number): Float32Array {
    const at = this.#take(length * 4);
    const view = new Float32Array(this.memory.buffer, at, length);
    this.#buffers.add(view.buffer);
    return view;
  }

  /** A copy of `values` in the memory; returns its address. */
  ints(values: Int32Array): number {
    const at = this.#take(values.length * 4);
    new Int32Array(this.memory.buffer, at, values.length).set(values);
    return at;
  }

  /** `bytes` of scratch space (reused between calls); returns its address. */
  scratch(bytes: number): number {
    if (bytes > this.#scratchBytes) {
      this.#scratch = this.#take(bytes);
      this.#scratchBytes = bytes;
    }
    return this.#scratch;
  }

  /** The address of a float32 view in this memory, or -1 for any other array. */
  at(a: Floats): number {
    return a instanceof Float32Array && this.#buffers.has(a.buffer) ? a.byteOffset : -1;
  }

  /** The address of a float64 view in this memory, or -1 for any other array. */
  at64(a: Float64Array): number {
    return this.#buffers.has(a.buffer) ? a.byteOffset : -1;
  }
}

/** The `wasm` backend of one model: its kernels reach the memory through `arena`. */
export interface WasmBackend extends KernelBackend {
  /** The model's memory and the module's kernels bound to it. */
  readonly arena: WasmArena;
}

/**
 * A new `wasm` backend, for one model: its own shared memory and module
 * instance (a {@linkcode WasmBackend}, which the registered kernels use).
 * Throws when {@linkcode wasmKernelsProblem} finds a problem.
 */
export function createWasmKernels(): KernelBackend {
  const problem = wasmKernelsProblem();
  if (problem !== null) throw new Error(`Cannot use the wasm kernels: ${problem}`);
  const arena = new WasmArena();
  const backend: WasmBackend = {
    name: "wasm",
    arena,
    floats: (length) => arena.floats(length),
    vectors: {
      doubles: (length) => arena.doubles(length),
      scaledStep(params, steps, grads) {
        const pp = arena.at(params), ps = arena.at64(steps), pg = arena.at(grads);
        if (pp < 0 || ps < 0 || pg < 0 || steps.length < params.length || grads.length < params.length) return false;
        arena.k.scaledStep(pp, ps, pg, params.length);
        return true;
      },
    },
  };
  return backend;
}
