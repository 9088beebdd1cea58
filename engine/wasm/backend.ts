/**
 * The `wasm` kernel backend: WebAssembly SIMD kernels (engine/wasm/assembly/kernels.ts,
 * built into kernels_wasm.ts by `deno task build:wasm`) for 5x5 convolutions
 * (C1, C3 with its table), convolutions that are dense products (C5) and
 * full layers (F6), forward, backward and the Gauss-Newton backward.
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
import { conv2d, type Conv2dConfig } from "../../layers/conv2d.ts";
import { full, type FullConfig } from "../../layers/full.ts";
import type { PoolConfig } from "../../layers/_pool.ts";
import { relu, squash, type SquashConfig, tanh } from "../../layers/activations.ts";
import { maxpool } from "../../layers/maxpool.ts";
import { subsample } from "../../layers/subsample.ts";
import type { KernelBackend, LayerCompute } from "../kernels.ts";
import type { Floats, Layer } from "../types.ts";
import { fromBase64 } from "../base64.ts";
import { WASM_KERNELS_BASE64 } from "./kernels_wasm.ts";

const PAGE = 65536;
/** Addresses below this are left to the module itself (it has no data; address 0 means "none" to the kernels). */
const BASE = PAGE;
/** Bytes kept free after every buffer: the kernels' last SIMD loads may read up to 12 bytes past a row. */
const SLACK = 64;
/** The largest memory a model may use: 2 GiB (the engine allows 1 GiB of buffers, engine/limits.ts), as the module declares it. */
const MAX_PAGES = 32768;

interface Exports {
  denseForward(x: number, W: number, bias: number, y: number, n: number, m: number, units: number): void;
  denseBackward(
    x: number,
    W: number,
    d: number,
    dx: number,
    gW: number,
    gb: number,
    n: number,
    m: number,
    units: number,
  ): void;
  conv5Forward(
    x: number,
    W: number,
    bias: number,
    y: number,
    n: number,
    inMaps: number,
    h: number,
    w: number,
    maps: number,
    start: number,
    inputs: number,
  ): void;
  conv5Backward(
    x: number,
    W: number,
    d: number,
    dx: number,
    gW: number,
    gb: number,
    n: number,
    inMaps: number,
    h: number,
    w: number,
    maps: number,
    inputStart: number,
    byInput: number,
    outputOf: number,
    tmp: number,
  ): void;
  squares(a: number, out: number, count: number): void;
  scaledStep(params: number, steps: number, grads: number, count: number): void;
  scaledTanhForward(x: number, y: number, count: number, A: number, S: number): void;
  scaledTanhBackward(y: number, dy: number, dx: number, count: number, A: number, S: number, square: number): void;
  subsample2Forward(
    x: number,
    coef: number,
    bias: number,
    y: number,
    n: number,
    maps: number,
    h: number,
    w: number,
  ): void;
  subsample2Backward(
    x: number,
    coef: number,
    d: number,
    dx: number,
    gc: number,
    gb: number,
    n: number,
    maps: number,
    h: number,
    w: number,
    square: number,
  ): void;
  reluForward(x: number, y: number, count: number): void;
  reluBackward(x: number, dy: number, dx: number, count: number): void;
  maxpool2Forward(x: number, y: number, planes: number, h: number, w: number): void;
  maxpool2Backward(x: number, d: number, dx: number, planes: number, h: number, w: number): void;
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
class Arena {
  readonly memory: WebAssembly.Memory;
  readonly k: Exports;
  #top = BASE;
  #buffers = new WeakSet<ArrayBufferLike>();
  #scratch = 0;
  #scratchBytes = 0;

  constructor() {
    compiled ??= new WebAssembly.Module(moduleBytes() as BufferSource);
    this.memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(compiled, { env: { memory: this.memory } });
    this.k = instance.exports as unknown as Exports;
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

  doubles(length: number): Float64Array {
    const at = this.#take(length * 8);
    const view = new Float64Array(this.memory.buffer, at, length);
    this.#buffers.add(view.buffer);
    return view;
  }

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

/** How conv2d's JS code picks kernels (layers/conv2d.ts `kernelsFor`), as far as the WASM kernels follow it. */
function convKind(layer: Layer<Conv2dConfig>): "dense" | "5x5" | null {
  const c = layer.config;
  if (c.stride !== 1 || c.padding !== 0) return null;
  const [inMaps, h, w] = layer.inShape;
  if (h === c.kernel && w === c.kernel && c.inputs.length === inMaps * c.maps) return "dense";
  return c.kernel === 5 ? "5x5" : null;
}

/**
 * Dense compute (y = W x + b) of a layer whose params are [W (units x m), b]:
 * full layers and convolutions that cover their whole input.
 */
function denseCompute(arena: Arena, layer: Layer, units: number): Partial<LayerCompute> | undefined {
  const { k } = arena;
  const m = layer.inSize;
  const [W, bias] = layer.params;
  const pW = arena.at(W), pb = arena.at(bias);
  if (pW < 0 || pb < 0) return undefined;
  return {
    forward(_l, x, y, n) {
      const px = arena.at(x), py = arena.at(y);
      if (px < 0 || py < 0) throw foreign(layer);
      k.denseForward(px, pW, pb, py, n, m, units);
    },
    backward(_l, x, _y, dy, dx, grads, n) {
      const px = arena.at(x), pd = arena.at(dy), pdx = dx ? arena.at(dx) : 0;
      const pgW = arena.at(grads[0]), pgb = arena.at(grads[1]);
      if (px < 0 || pd < 0 || pdx < 0 || pgW < 0 || pgb < 0) throw foreign(layer);
      k.denseBackward(px, pW, pd, pdx, pgW, pgb, n, m, units);
    },
    // Gauss-Newton: the backward sums on x^2 and W^2 with d2E/dy2.
    backward2(_l, x, _y, _dy, d2y, d2x, hess, n) {
      const px = arena.at(x), pd = arena.at(d2y), pdx = d2x ? arena.at(d2x) : 0;
      const phW = arena.at(hess[0]), phb = arena.at(hess[1]);
      if (px < 0 || pd < 0 || pdx < 0 || phW < 0 || phb < 0) throw foreign(layer);
      const x2 = arena.scratch((n * m + W.length) * 4), W2 = x2 + n * m * 4;
      k.squares(px, x2, n * m);
      k.squares(pW, W2, W.length);
      k.denseBackward(x2, W2, pd, pdx, phW, phb, n, m, units);
    },
  };
}

function conv5Compute(arena: Arena, layer: Layer<Conv2dConfig>): Partial<LayerCompute> | undefined {
  const { k } = arena;
  const c = layer.config;
  const [inMaps, h, w] = layer.inShape;
  const [W, bias] = layer.params;
  const pW = arena.at(W), pb = arena.at(bias);
  if (pW < 0 || pb < 0) return undefined;
  const start = arena.ints(c.start), inputs = arena.ints(c.inputs);
  const inputStart = arena.ints(c.inputStart), byInput = arena.ints(c.byInput), outputOf = arena.ints(c.outputOf);
  const ho = h - 4, wo = w - 4;
  const wo4 = (wo + 3) & ~3, w4 = (w + 3) & ~3;
  // conv5Backward's scratch: the padded output maps, then one input map's rows.
  const tmpBytes = (c.maps * (ho + 8) * (wo4 + 8) + h * w4) * 4;
  const accumulate = (
    px: number,
    pWk: number,
    pd: number,
    pdx: number,
    pg: number,
    pgb: number,
    n: number,
    tmp: number,
  ) =>
    k.conv5Backward(
      px,
      pWk,
      pd,
      pdx,
      pg,
      pgb,
      n,
      inMaps,
      h,
      w,
      c.maps,
      inputStart,
      byInput,
      outputOf,
      tmp,
    );
  return {
    forward(_l, x, y, n) {
      const px = arena.at(x), py = arena.at(y);
      if (px < 0 || py < 0) throw foreign(layer);
      k.conv5Forward(px, pW, pb, py, n, inMaps, h, w, c.maps, start, inputs);
    },
    backward(_l, x, _y, dy, dx, grads, n) {
      const px = arena.at(x), pd = arena.at(dy), pdx = dx ? arena.at(dx) : 0;
      const pg = arena.at(grads[0]), pgb = arena.at(grads[1]);
      if (px < 0 || pd < 0 || pdx < 0 || pg < 0 || pgb < 0) throw foreign(layer);
      accumulate(px, pW, pd, pdx, pg, pgb, n, arena.scratch(tmpBytes));
    },
    backward2(_l, x, _y, _dy, d2y, d2x, hess, n) {
      const px = arena.at(x), pd = arena.at(d2y), pdx = d2x ? arena.at(d2x) : 0;
      const ph = arena.at(hess[0]), phb = arena.at(hess[1]);
      if (px < 0 || pd < 0 || pdx < 0 || ph < 0 || phb < 0) throw foreign(layer);
      // The squares sit past the backward's own scratch in the same block.
      const tmp = arena.scratch(tmpBytes + n * layer.inSize * 4 + W.length * 4);
      const x2 = tmp + tmpBytes, W2 = x2 + n * layer.inSize * 4;
      k.squares(px, x2, n * layer.inSize);
      k.squares(pW, W2, W.length);
      accumulate(x2, W2, pd, pdx, ph, phb, n, tmp);
    },
  };
}

/** Scaled tanh A tanh(S x) (squash, tanh). */
function tanhCompute(arena: Arena, layer: Layer, A: number, S: number): Partial<LayerCompute> {
  const { k } = arena;
  const size = layer.inSize;
  return {
    forward(_l, x, y, n) {
      const px = arena.at(x), py = arena.at(y);
      if (px < 0 || py < 0) throw foreign(layer);
      k.scaledTanhForward(px, py, n * size, A, S);
    },
    backward(_l, _x, y, dy, dx, _g, n) {
      if (!dx) return;
      const py = arena.at(y), pd = arena.at(dy), pdx = arena.at(dx);
      if (py < 0 || pd < 0 || pdx < 0) throw foreign(layer);
      k.scaledTanhBackward(py, pd, pdx, n * size, A, S, 0);
    },
    backward2(_l, _x, y, _dy, d2y, d2x, _h, n) {
      if (!d2x) return;
      const py = arena.at(y), pd = arena.at(d2y), pdx = arena.at(d2x);
      if (py < 0 || pd < 0 || pdx < 0) throw foreign(layer);
      k.scaledTanhBackward(py, pd, pdx, n * size, A, S, 1);
    },
  };
}

/** Trainable subsampling with 2x2 windows, stride 2. */
function subsampleCompute(arena: Arena, layer: Layer<PoolConfig>): Partial<LayerCompute> | undefined {
  const { k } = arena;
  const [maps, h, w] = layer.inShape;
  const [coef, bias] = layer.params;
  const pc = arena.at(coef), pb = arena.at(bias);
  if (pc < 0 || pb < 0) return undefined;
  const accumulate = (x: Floats, d: Floats, dx: Floats | null, g: readonly Floats[], n: number, square: number) => {
    const px = arena.at(x), pd = arena.at(d), pdx = dx ? arena.at(dx) : 0;
    const pg = arena.at(g[0]), pgb = arena.at(g[1]);
    if (px < 0 || pd < 0 || pdx < 0 || pg < 0 || pgb < 0) throw foreign(layer);
    k.subsample2Backward(px, pc, pd, pdx, pg, pgb, n, maps, h, w, square);
  };
  return {
    forward(_l, x, y, n) {
      const px = arena.at(x), py = arena.at(y);
      if (px < 0 || py < 0) throw foreign(layer);
      k.subsample2Forward(px, pc, pb, py, n, maps, h, w);
    },
    backward: (_l, x, _y, dy, dx, grads, n) => accumulate(x, dy, dx, grads, n, 0),
    backward2: (_l, x, _y, _dy, d2y, d2x, hess, n) => accumulate(x, d2y, d2x, hess, n, 1),
  };
}

/** ReLU; its Gauss-Newton pass routes d2 like d. */
function reluCompute(arena: Arena, layer: Layer): Partial<LayerCompute> {
  const { k } = arena;
  const size = layer.inSize;
  const back = (x: Floats, d: Floats, dx: Floats | null, n: number) => {
    if (!dx) return;
    const px = arena.at(x), pd = arena.at(d), pdx = arena.at(dx);
    if (px < 0 || pd < 0 || pdx < 0) throw foreign(layer);
    k.reluBackward(px, pd, pdx, n * size);
  };
  return {
    forward(_l, x, y, n) {
      const px = arena.at(x), py = arena.at(y);
      if (px < 0 || py < 0) throw foreign(layer);
      k.reluForward(px, py, n * size);
    },
    backward: (_l, x, _y, dy, dx, _g, n) => back(x, dy, dx, n),
    backward2: (_l, x, _y, _dy, d2y, d2x, _h, n) => back(x, d2y, d2x, n),
  };
}

/** Max pooling with 2x2 windows, stride 2. */
function maxpoolCompute(arena: Arena, layer: Layer): Partial<LayerCompute> {
  const { k } = arena;
  const [maps, h, w] = layer.inShape;
  const back = (x: Floats, d: Floats, dx: Floats | null, n: number) => {
    if (!dx) return;
    const px = arena.at(x), pd = arena.at(d), pdx = arena.at(dx);
    if (px < 0 || pd < 0 || pdx < 0) throw foreign(layer);
    k.maxpool2Backward(px, pd, pdx, n * maps, h, w);
  };
  return {
    forward(_l, x, y, n) {
      const px = arena.at(x), py = arena.at(y);
      if (px < 0 || py < 0) throw foreign(layer);
      k.maxpool2Forward(px, py, n * maps, h, w);
    },
    backward: (_l, x, _y, dy, dx, _g, n) => back(x, dy, dx, n),
    backward2: (_l, x, _y, _dy, d2y, d2x, _h, n) => back(x, d2y, d2x, n),
  };
}

function foreign(layer: Layer): Error {
  return new TypeError(
    `Cannot run layer "${layer.name}" on the wasm kernels: a buffer is not in the model's WebAssembly memory`,
  );
}

/**
 * A new `wasm` backend, for one model: its own shared memory and module
 * instance. Throws when {@linkcode wasmKernelsProblem} finds a problem.
 */
export function createWasmKernels(): KernelBackend {
  const problem = wasmKernelsProblem();
  if (problem !== null) throw new Error(`Cannot use the wasm kernels: ${problem}`);
  const arena = new Arena();
  return {
    name: "wasm",
    floats: (length) => arena.floats(length),
    // The built-in plugins only, by identity: a plugin of one's own under a built-in's name keeps its own kernels.
    compute(layer, plugin) {
      if (plugin === conv2d) {
        const conv = layer as Layer<Conv2dConfig>;
        const kind = convKind(conv);
        if (kind === "dense") return denseCompute(arena, layer, conv.config.maps);
        if (kind === "5x5") return conv5Compute(arena, conv);
        return undefined;
      }
      if (plugin === full) return denseCompute(arena, layer, (layer as Layer<FullConfig>).config.units);
      if (plugin === squash) {
        const c = (layer as Layer<SquashConfig>).config;
        return tanhCompute(arena, layer, c.A, c.S);
      }
      if (plugin === tanh) return tanhCompute(arena, layer, 1, 1);
      if (plugin === relu) return reluCompute(arena, layer);
      if (plugin === subsample || plugin === maxpool) {
        const pool = layer as Layer<PoolConfig>;
        const [, h, w] = layer.inShape;
        if (pool.config.size !== 2 || pool.config.stride !== 2 || h % 2 !== 0 || w % 2 !== 0) return undefined;
        return plugin === subsample ? subsampleCompute(arena, pool) : maxpoolCompute(arena, layer);
      }
      return undefined;
    },
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
}
