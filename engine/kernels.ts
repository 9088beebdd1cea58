/**
 * Kernel backends: where a model keeps its buffers and which code computes
 * its layers. The layer plugins carry their own (JavaScript) kernels; a
 * backend may replace them, layer by layer, with its own for the layers it
 * knows, and give the model storage those kernels can work on in place.
 *
 * Two backends come with the engine: `js` (the plugins' kernels, buffers in
 * ordinary typed arrays) and `wasm` (WebAssembly SIMD kernels for
 * convolutions and dense layers, every buffer in one WebAssembly memory; see
 * engine/wasm/backend.ts).
 *
 * @module
 */
import type { Layer, LayerPlugin, VectorKernels } from "./types.ts";

/** The computing part of a layer plugin, which a kernel backend may replace. */
export type LayerCompute = Pick<LayerPlugin, "forward" | "backward" | "backward2">;

/** A kernel backend for float32 models. */
export interface KernelBackend {
  /** Short name, shown in summaries (`"js"`, `"wasm"`). */
  readonly name: string;
  /** A zeroed buffer of `length` float32 values, where this backend's kernels can reach it. */
  floats(length: number): Float32Array;
  /**
   * This backend's kernels for a built layer of `plugin` (any subset of
   * forward, backward and backward2), or undefined to run the plugin's own.
   */
  compute(layer: Layer, plugin: LayerPlugin): Partial<LayerCompute> | undefined;
  /** Optional kernels on whole parameter vectors, for optimizers. */
  readonly vectors?: VectorKernels;
}

/** What `BuildOptions.kernels` accepts: a backend's name, `"auto"`, or a backend object. */
export type KernelChoice = "js" | "wasm" | "auto" | KernelBackend;

/** Kernel choices by name, as the CLI's `--kernels` takes them. */
export const KERNEL_NAMES = ["auto", "wasm", "js"] as const;

/** The `js` backend: the plugins' own kernels on ordinary typed arrays. */
export const jsKernels: KernelBackend = {
  name: "js",
  floats: (length) => new Float32Array(length),
  compute: () => undefined,
};

/** Returns the plugin's kernels with a backend's replacements laid over them. */
export function layerCompute(layer: Layer, plugin: LayerPlugin, backend: KernelBackend): LayerCompute {
  const own = backend.compute(layer, plugin) ?? {};
  return {
    forward: own.forward ?? plugin.forward.bind(plugin),
    backward: own.backward ?? plugin.backward.bind(plugin),
    backward2: own.backward2 ?? plugin.backward2.bind(plugin),
  };
}
