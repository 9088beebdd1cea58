/**
 * Plugins by module URL, for worker threads: a worker rebuilds the model
 * from its graph, so it needs every plugin the graph uses. The built-ins it
 * has; any other plugin is imported from the module URL it was registered
 * with (`Registry.register(plugin, { module: import.meta.url })`).
 *
 * @module
 */
import { BUILTIN_LAYERS, BUILTIN_LOSSES, createRegistries } from "../builtins.ts";
import type { Model } from "./model.ts";
import type { Registries } from "./registry.ts";

/** A plugin a worker imports: the registry it goes in, its type and the module that exports it. */
export interface PluginModule {
  /** Which registry: layers or losses (workers run no optimizer). */
  readonly kind: "layers" | "losses";
  /** The plugin's registered type. */
  readonly type: string;
  /** URL of a module that exports the plugin object (under any name). */
  readonly module: string;
}

/**
 * The plugins of `model` that are not the built-ins, each with the module
 * URL `registry` holds for it. Throws, naming the layer and what to do, for
 * a plugin registered without one; `what` says what needed it.
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
  for (const l of model.layers) {
    if (!BUILTIN_LAYERS.includes(l.plugin)) add("layers", l.type, `layer "${l.name}"`);
  }
  if (!BUILTIN_LOSSES.includes(model.loss.plugin)) add("losses", model.loss.plugin.type, "the loss");
  return out;
}

/** New registries with the built-ins and the plugins of `modules`, imported from their URLs. */
export async function registriesWith(modules: readonly PluginModule[]): Promise<Registries> {
  const registries = createRegistries();
  for (const m of modules) {
    const exports: Record<string, unknown> = await import(m.module);
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
