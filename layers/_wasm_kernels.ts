/**
 * The built-in layers' kernels for the `wasm` backend (engine/wasm/backend.ts):
 * WebAssembly SIMD for 5x5 convolutions (C1, C3 with its table),
 * convolutions that are dense products (C5), full layers (F6), scaled tanh,
 * ReLU, and 2x2 subsampling and max pooling; forward, backward and the
 * Gauss-Newton backward. builtins.ts registers them.
 *
 * @module
 */
import type { KernelConfig, LayerCompute } from "../engine/kernels.ts";
import type { Floats, Layer, LayerPlugin } from "../engine/types.ts";
import type { WasmArena, WasmBackend } from "../engine/wasm/backend.ts";
import type { PoolConfig } from "./_pool.ts";
import { relu, squash, tanh } from "./activations.ts";
import { conv2d, type Conv2dConfig, kernelsFor } from "./conv2d.ts";
import { full } from "./full.ts";
import { maxpool } from "./maxpool.ts";
import { subsample } from "./subsample.ts";

/**
 * Dense compute (y = W x + b) of a layer whose params are [W (units x m), b]:
 * full layers and convolutions that cover their whole input.
 */
function denseCompute(arena: WasmArena, layer: Layer, units: number): Partial<LayerCompute> | undefined {
  const { k } = arena;
  const m = layer.inSize;
  const [W, bias] = layer.params;
  const pW = arena.at(W), pb = arena.at(bias);
  if (pW < 0 || pb < 0) return undefined;
  return {
    forward(_l, x, y, n) {
      const [px, py] = addresses(arena, layer, x, y);
      k.denseForward(px, pW, pb, py, n, m, units);
    },
    backward(_l, x, _y, dy, dx, grads, n) {
      const [px, pd, pdx, pgW, pgb] = addresses(arena, layer, x, dy, dx, grads[0], grads[1]);
      k.denseBackward(px, pW, pd, pdx, pgW, pgb, n, m, units);
    },
    // Gauss-Newton: the backward sums on x^2 and W^2 with d2E/dy2.
    backward2(_l, x, _y, _dy, d2y, d2x, hess, n) {
      const [px, pd, pdx, phW, phb] = addresses(arena, layer, x, d2y, d2x, hess[0], hess[1]);
      const x2 = arena.scratch((n * m + W.length) * 4), W2 = x2 + n * m * 4;
      k.squares(px, x2, n * m);
      k.squares(pW, W2, W.length);
      k.denseBackward(x2, W2, pd, pdx, phW, phb, n, m, units);
    },
  };
}

function conv5Compute(arena: WasmArena, layer: Layer<Conv2dConfig>): Partial<LayerCompute> | undefined {
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
  const accumulate = (addrs: [number, number, number, number, number, number], n: number, tmp: number) =>
    k.conv5Backward(...addrs, n, inMaps, h, w, c.maps, inputStart, byInput, outputOf, tmp);
  return {
    forward(_l, x, y, n) {
      const [px, py] = addresses(arena, layer, x, y);
      k.conv5Forward(px, pW, pb, py, n, inMaps, h, w, c.maps, start, inputs);
    },
    backward(_l, x, _y, dy, dx, grads, n) {
      const [px, pd, pdx, pg, pgb] = addresses(arena, layer, x, dy, dx, grads[0], grads[1]);
      accumulate([px, pW, pd, pdx, pg, pgb], n, arena.scratch(tmpBytes));
    },
    backward2(_l, x, _y, _dy, d2y, d2x, hess, n) {
      const [px, pd, pdx, ph, phb] = addresses(arena, layer, x, d2y, d2x, hess[0], hess[1]);
      // The squares sit past the backward's own scratch in the same block.
      const tmp = arena.scratch(tmpBytes + n * layer.inSize * 4 + W.length * 4);
      const x2 = tmp + tmpBytes, W2 = x2 + n * layer.inSize * 4;
      k.squares(px, x2, n * layer.inSize);
      k.squares(pW, W2, W.length);
      accumulate([x2, W2, pd, pdx, ph, phb], n, tmp);
    },
  };
}

/** Scaled tanh A tanh(S x) (squash, tanh). */
function tanhCompute(arena: WasmArena, layer: Layer, A: number, S: number): Partial<LayerCompute> {
  const { k } = arena;
  const size = layer.inSize;
  const back = (y: Floats, d: Floats, dx: Floats | null, n: number, square: number) => {
    if (!dx) return;
    const [py, pd, pdx] = addresses(arena, layer, y, d, dx);
    k.scaledTanhBackward(py, pd, pdx, n * size, A, S, square);
  };
  return {
    forward(_l, x, y, n) {
      const [px, py] = addresses(arena, layer, x, y);
      k.scaledTanhForward(px, py, n * size, A, S);
    },
    backward: (_l, _x, y, dy, dx, _g, n) => back(y, dy, dx, n, 0),
    backward2: (_l, _x, y, _dy, d2y, d2x, _h, n) => back(y, d2y, d2x, n, 1),
  };
}

/** Trainable subsampling with 2x2 windows, stride 2. */
function subsampleCompute(arena: WasmArena, layer: Layer<PoolConfig>): Partial<LayerCompute> | undefined {
  const { k } = arena;
  const [maps, h, w] = layer.inShape;
  const [coef, bias] = layer.params;
  const pc = arena.at(coef), pb = arena.at(bias);
  if (pc < 0 || pb < 0) return undefined;
  const accumulate = (x: Floats, d: Floats, dx: Floats | null, g: readonly Floats[], n: number, square: number) => {
    const [px, pd, pdx, pg, pgb] = addresses(arena, layer, x, d, dx, g[0], g[1]);
    k.subsample2Backward(px, pc, pd, pdx, pg, pgb, n, maps, h, w, square);
  };
  return {
    forward(_l, x, y, n) {
      const [px, py] = addresses(arena, layer, x, y);
      k.subsample2Forward(px, pc, pb, py, n, maps, h, w);
    },
    backward: (_l, x, _y, dy, dx, grads, n) => accumulate(x, dy, dx, grads, n, 0),
    backward2: (_l, x, _y, _dy, d2y, d2x, hess, n) => accumulate(x, d2y, d2x, hess, n, 1),
  };
}

/** ReLU; its Gauss-Newton pass routes d2 like d. */
function reluCompute(arena: WasmArena, layer: Layer): Partial<LayerCompute> {
  const { k } = arena;
  const size = layer.inSize;
  const back = (x: Floats, d: Floats, dx: Floats | null, n: number) => {
    if (!dx) return;
    const [px, pd, pdx] = addresses(arena, layer, x, d, dx);
    k.reluBackward(px, pd, pdx, n * size);
  };
  return {
    forward(_l, x, y, n) {
      const [px, py] = addresses(arena, layer, x, y);
      k.reluForward(px, py, n * size);
    },
    backward: (_l, x, _y, dy, dx, _g, n) => back(x, dy, dx, n),
    backward2: (_l, x, _y, _dy, d2y, d2x, _h, n) => back(x, d2y, d2x, n),
  };
}

/** Max pooling with 2x2 windows, stride 2. */
function maxpoolCompute(arena: WasmArena, layer: Layer): Partial<LayerCompute> {
  const { k } = arena;
  const [maps, h, w] = layer.inShape;
  const back = (x: Floats, d: Floats, dx: Floats | null, n: number) => {
    if (!dx) return;
    const [px, pd, pdx] = addresses(arena, layer, x, d, dx);
    k.maxpool2Backward(px, pd, pdx, n * maps, h, w);
  };
  return {
    forward(_l, x, y, n) {
      const [px, py] = addresses(arena, layer, x, y);
      k.maxpool2Forward(px, py, n * maps, h, w);
    },
    backward: (_l, x, _y, dy, dx, _g, n) => back(x, dy, dx, n),
    backward2: (_l, x, _y, _dy, d2y, d2x, _h, n) => back(x, d2y, d2x, n),
  };
}

/** The addresses of `arrays` in the arena's memory (0 for null); throws when one is not in it. */
function addresses(arena: WasmArena, layer: Layer, ...arrays: (Floats | null)[]): number[] {
  const at = arrays.map((a) => a ? arena.at(a) : 0);
  if (at.some((p) => p < 0)) {
    throw new TypeError(
      `Cannot run layer "${layer.name}" on the wasm kernels: a buffer is not in the model's WebAssembly memory`,
    );
  }
  return at;
}

/** A `wasm` kernel of `plugin`, on the backend's memory. */
function wasmKernel<C>(
  plugin: LayerPlugin<C>,
  kernelFunc: (layer: Layer<C>, arena: WasmArena) => Partial<LayerCompute> | undefined,
): KernelConfig<WasmBackend> {
  return {
    kernelName: plugin.type,
    backendName: "wasm",
    plugin: plugin as unknown as LayerPlugin,
    kernelFunc: (layer, backend) => kernelFunc(layer as Layer<C>, backend.arena),
  };
}

/** Whether a pooling layer has the 2x2 windows, stride 2, on even sides that the kernels handle. */
function pool2(layer: Layer<PoolConfig>): boolean {
  const [, h, w] = layer.inShape;
  return layer.config.size === 2 && layer.config.stride === 2 && h % 2 === 0 && w % 2 === 0;
}

/** The built-in layers' `wasm` kernels. */
export const WASM_KERNELS: readonly KernelConfig<WasmBackend>[] = [
  wasmKernel(conv2d, (layer, arena) => {
    // The kernels conv2d's JS code picks: the WASM ones follow it for "dense" and "5x5".
    const kind = kernelsFor(layer);
    if (kind === "dense") return denseCompute(arena, layer, layer.config.maps);
    return kind === "5x5" ? conv5Compute(arena, layer) : undefined;
  }),
  wasmKernel(full, (layer, arena) => denseCompute(arena, layer, layer.config.units)),
  wasmKernel(squash, (layer, arena) => tanhCompute(arena, layer, layer.config.A, layer.config.S)),
  wasmKernel(tanh, (layer, arena) => tanhCompute(arena, layer, 1, 1)),
  wasmKernel(relu, (layer, arena) => reluCompute(arena, layer)),
  wasmKernel(subsample, (layer, arena) => pool2(layer) ? subsampleCompute(arena, layer) : undefined),
  wasmKernel(maxpool, (layer, arena) => pool2(layer) ? maxpoolCompute(arena, layer) : undefined),
];
