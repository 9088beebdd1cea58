/**
 * Plugins by module URL, for worker threads: a worker rebuilds the model
 * from its graph, so it needs every plugin the graph uses and the kernels
 * registered for them. It imports each from the module URL it was registered
 * with: `Registry.register(plugin, { module: import.meta.url })` in a
 * plugin's own file, and for the built-ins a module that exports
 * `registerBuiltins` (builtins.ts, or a bundle of it such as the site's
 * core.js), which registers them with their kernels.
 *
 * @module
 */
import type { Model } from "./model.ts";
import { emptyRegistries, type Registries } from "./registry.ts";

/** A plugin a worker imports: the registry it goes in, its type and the module that exports it. */
export interface PluginModule {
  /** Which registry: layers or losses (workers run no optimizer). */
  readonly kind: "layers" | "losses";
  /** The plugin's registered type. */
  readonly type: string;
  /** URL of a module that exports the plugin object (under any name), or `registerBuiltins` registering it. */
  readonly module: string;
}

/** What a module exporting `registerBuiltins` offers (see builtins.ts). */
type RegisterBuiltins = (registries: Registries, options: { module: string }) => Registries;

/**
 * The plugins of `model`, each with the module URL `registry` holds for it.
 * Throws, naming the layer and what to do, for a plugin registered without
 * one; `what` says what needed it.
 */
export function pluginModules(model: Model, registry: Registries, what: string): PluginModule[] {
  const out: PluginModule[] = [];
  const add = (kind: PluginModule["kind"], type: string, label: string) => {
    if (out.some((p) => p.kind === kind && p.type === type)) return;
    const module = registry[kind].moduleOf(type);
    if (module === undefined) {
      throw new Error(
        `Cannot ${what}: ${label} has type "${type}", a plugin that is not built in and was registered without a ` +
          `module URL; register it with { module: import.meta.url } in its own file so that worker threads can import it`,
      );
    }
    out.push({ kind, type, module });
  };
  for (const l of model.layers) add("layers", l.type, `layer "${l.name}"`);
  add("losses", model.loss.plugin.type, "the loss");
  return out;
}

/** New registries with the plugins of `modules` (and their kernels), imported from their URLs. */
export async function registriesWith(modules: readonly PluginModule[]): Promise<Registries> {
  const registries = emptyRegistries();
  const loaded = new Map<string, Record<string, unknown>>();
  for (const m of modules) if (!loaded.has(m.module)) loaded.set(m.module, await import(m.module));
  // Sets of built-ins first, so that a plugin of one's own under a built-in's name replaces it.
  const sets = [...loaded].filter(([, exports]) => typeof exports.registerBuiltins === "function");
  for (const [module, exports] of sets) (exports.registerBuiltins as RegisterBuiltins)(registries, { module });
  for (const m of modules) {
    const exports = loaded.get(m.module)!;
    if (typeof exports.registerBuiltins === "function" && registries[m.kind].has(m.type)) continue;
    const plugin = Object.values(exports).find((v) =>
      v !== null && typeof v === "object" && (v as { type?: unknown }).type === m.type &&
      typeof (v as { forward?: unknown }).forward === "function"
    );
    if (plugin === undefined) {
      throw new Error(`Cannot load ${m.kind} plugin "${m.type}": module ${m.module} exports no plugin of that type`);
    }
    // deno-lint-ignore no-explicit-any
    registries[m.kind].register(plugin as any, { replace: true, module: m.module });
  }
  return registries;
}
