/**
 * Registries of plugins, keyed by their `type`.
 *
 * @module
 */
import { KernelRegistry } from "./kernels.ts";
import type { LayerPlugin, LossPlugin, OptimizerPlugin } from "./types.ts";

/** A set of plugins of one kind, keyed by `type`. */
export class Registry<P extends { readonly type: string; readonly description: string }> {
  readonly #items = new Map<string, P>();
  readonly #modules = new Map<string, string>();

  /** `kind` names what is registered, for error messages: "layer", "loss", "optimizer". */
  constructor(readonly kind: string) {}

  /**
   * Adds a plugin. Registering a type twice is an error unless `replace` is set.
   * `module` is the URL of a module that exports the plugin (under any name),
   * e.g. `import.meta.url` in the plugin's own file, or that exports
   * `registerBuiltins` registering it (builtins.ts): worker threads (parallel
   * training, background evaluation) import it to rebuild the model there.
   *
   * @example
   * ```ts
   * import { Registry } from "./registry.ts";
   * const r = new Registry<{ type: string; description: string }>("thing");
   * r.register({ type: "a", description: "the letter a" });
   * if (!r.has("a")) throw new Error("not registered");
   * ```
   */
  register(plugin: P, options: { replace?: boolean; module?: string | URL } = {}): void {
    if (typeof plugin?.type !== "string" || !/^[A-Za-z][\w.-]*$/.test(plugin.type)) {
      const got = JSON.stringify(plugin?.type);
      throw new TypeError(
        `Cannot register ${this.kind}: "type" must be a name of letters, digits, "_", "-" or ".", got ${got}`,
      );
    }
    if (this.#items.has(plugin.type) && !options.replace) {
      throw new Error(
        `Cannot register ${this.kind} type "${plugin.type}": it is already registered (pass { replace: true } to override)`,
      );
    }
    this.#items.set(plugin.type, plugin);
    if (options.module !== undefined) this.#modules.set(plugin.type, new URL(options.module).href);
    else this.#modules.delete(plugin.type);
  }

  /** The module URL `type` was registered with, if any (see `register`). */
  moduleOf(type: string): string | undefined {
    return this.#modules.get(type);
  }

  /** Whether a plugin of type `type` is registered. */
  has(type: string): boolean {
    return this.#items.has(type);
  }

  /** The plugin for `type`; the error names `where` and the registered types. */
  get(type: unknown, where = ""): P {
    const plugin = typeof type === "string" ? this.#items.get(type) : undefined;
    if (plugin === undefined) {
      const at = where ? ` for ${where}` : "", name = JSON.stringify(type), types = this.types().join(", ");
      throw new RegistryError(
        `Cannot find registered ${this.kind} type ${name}${at}; registered ${this.kind} types: ${types}`,
      );
    }
    return plugin;
  }

  /** Registered type names, sorted. */
  types(): string[] {
    return [...this.#items.keys()].sort();
  }

  /** Registered plugins, sorted by type. */
  list(): P[] {
    return this.types().map((t) => this.#items.get(t)!);
  }
}

/** A failed lookup in a registry. */
export class RegistryError extends TypeError {
  /** `"RegistryError"`: the name stack traces and `String(error)` show. */
  override name = "RegistryError";
}

/** The registries a model and its training use. */
export interface Registries {
  /** Layer types a graph's `layers` may use (conv2d, subsample, rbf, ...). */
  readonly layers: Registry<LayerPlugin>;
  /** Loss types a graph's `loss` may use (map, mse-rbf, softmax-cross-entropy, ...). */
  readonly losses: Registry<LossPlugin>;
  /** Optimizer types an `OptimizerSpec` may use (sdlm, sgd, adam, ...). */
  readonly optimizers: Registry<OptimizerPlugin>;
  /** Kernels of the kernel backends for layer plugins (the `wasm` ones of conv2d, full, ...). */
  readonly kernels: KernelRegistry;
}

/** Empty registries (see `createRegistries` in builtins.ts for ones holding the built-ins). */
export function emptyRegistries(): Registries {
  return {
    layers: new Registry<LayerPlugin>("layer"),
    losses: new Registry<LossPlugin>("loss"),
    optimizers: new Registry<OptimizerPlugin>("optimizer"),
    kernels: new KernelRegistry(),
  };
}
