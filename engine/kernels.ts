/**
 * Kernel backends and the kernels registered for them: where a model keeps
 * its buffers and which code computes its layers. The layer plugins carry
 * their own (JavaScript) kernels; a backend gives the model storage, and the
 * kernels registered under the backend's name and a layer type replace the
 * plugin's, layer by layer, as tfjs-core's `registerKernel` does.
 *
 * Two backends come with the engine: `js` (the plugins' kernels, buffers in
 * ordinary typed arrays) and `wasm` (every buffer in one WebAssembly memory,
 * engine/wasm/backend.ts). The built-ins' `wasm` kernels are registered with
 * the built-ins (builtins.ts).
 *
 * @module
 */
import type { Layer, LayerPlugin, VectorKernels } from "./types.ts";

/** The computing part of a layer plugin, which a registered kernel may replace. */
export type LayerCompute = Pick<LayerPlugin, "forward" | "backward" | "backward2">;

/** A kernel backend for float32 models. */
export interface KernelBackend {
  /** Short name, shown in summaries and used to look kernels up (`"js"`, `"wasm"`). */
  readonly name: string;
  /** A zeroed buffer of `length` float32 values, where this backend's kernels can reach it. */
  floats(length: number): Float32Array;
  /** Optional kernels on whole parameter vectors, for optimizers. */
  readonly vectors?: VectorKernels;
}

/** A backend's kernels for one layer plugin: tfjs-core's `{kernelName, backendName, kernelFunc}`. */
export interface KernelConfig<B extends KernelBackend = KernelBackend> {
  /** The layer type computed, e.g. `"conv2d"`. */
  readonly kernelName: string;
  /** The backend's name, e.g. `"wasm"`. */
  readonly backendName: string;
  /** The plugin computed: another plugin registered under the same type keeps its own kernels. */
  readonly plugin: LayerPlugin;
  /** The kernels for a built layer on `backend` (any of forward, backward, backward2), or undefined for the plugin's own. */
  kernelFunc(layer: Layer, backend: B): Partial<LayerCompute> | undefined;
}

/** Kernels by backend name and layer type. */
export class KernelRegistry {
  readonly #kernels = new Map<string, KernelConfig>();

  /** Adds a kernel; registering one twice for a backend and type is an error unless `replace` is set. */
  register(kernel: KernelConfig, options: { replace?: boolean } = {}): void {
    const key = `${kernel.backendName}/${kernel.kernelName}`;
    if (this.#kernels.has(key) && !options.replace) {
      throw new Error(
        `Cannot register kernel "${kernel.kernelName}" for backend "${kernel.backendName}": it is already registered (pass { replace: true } to override)`,
      );
    }
    this.#kernels.set(key, kernel);
  }

  /** The kernel registered for layer type `kernelName` on backend `backendName`, if any. */
  get(kernelName: string, backendName: string): KernelConfig | undefined {
    return this.#kernels.get(`${backendName}/${kernelName}`);
  }
}

/** What `BuildOptions.kernels` accepts: a backend's name, `"auto"`, or a backend object. */
export type KernelChoice = "js" | "wasm" | "auto" | KernelBackend;

/** Kernel choices by name, as the CLI's `--kernels` takes them. */
export const KERNEL_NAMES = ["auto", "wasm", "js"] as const;

/** The `js` backend: the plugins' own kernels on ordinary typed arrays. */
export const jsKernels: KernelBackend = { name: "js", floats: (length) => new Float32Array(length) };

/**
 * The plugin's kernels with those `kernels` holds for it on `backend` laid
 * over them (a kernel registered for another plugin of the same type is
 * ignored). A model resolves them once, when it is built.
 */
export function layerCompute(
  layer: Layer,
  plugin: LayerPlugin,
  backend: KernelBackend,
  kernels: KernelRegistry,
): LayerCompute {
  const kernel = kernels.get(plugin.type, backend.name);
  const own = (kernel?.plugin === plugin ? kernel.kernelFunc(layer, backend) : undefined) ?? {};
  return {
    forward: own.forward ?? plugin.forward.bind(plugin),
    backward: own.backward ?? plugin.backward.bind(plugin),
    backward2: own.backward2 ?? plugin.backward2.bind(plugin),
  };
}
