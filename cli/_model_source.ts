/**
 * Where the CLI gets a model: a preset name, a graph JSON file, or a saved
 * model file.
 *
 * @module
 */
import { buildModel, type Model } from "../engine/model.ts";
import { isModelFile, modelFromJSON, readJSONFile } from "../engine/model_file.ts";
import type { Registries } from "../engine/registry.ts";
import { getPreset } from "../presets/presets.ts";

/** Builds the model a command asked for; `--model` wins over `--preset`. */
export async function modelFromOptions(
  opts: { preset?: string; model?: string; seed: number },
  registry: Registries,
): Promise<Model> {
  if (opts.model) {
    const data = await readJSONFile(opts.model);
    if (isModelFile(data)) return modelFromJSON(data, registry, `"${opts.model}"`);
    try {
      return buildModel(data as never, { registry, seed: opts.seed });
    } catch (e) {
      (e as Error).message = `In "${opts.model}": ${(e as Error).message}`;
      throw e;
    }
  }
  return buildModel(getPreset(opts.preset ?? "lenet5").graph, { registry, seed: opts.seed });
}
