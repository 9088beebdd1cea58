/**
 * `deno task train`: trains a preset or a graph (and `--summary` prints its
 * layer table).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { defaultRegistry } from "../builtins.ts";
import { formatSummary } from "../engine/summary.ts";
import { PRESETS } from "../presets/presets.ts";
import { modelFromOptions } from "./_model_source.ts";

const HELP = `Usage: deno task train [options]

Options:
  --preset NAME   model preset: ${Object.keys(PRESETS).join(", ")} (default lenet5)
  --model FILE    a graph JSON file or a saved model file instead of a preset
  --seed N        seed of the init and the pattern order (default 0)
  --summary       print the layer table (name, type, output shape, parameters,
                  connections, totals) and exit
  -h, --help      show this help
`;

/** Runs the command; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        preset: { type: "string" },
        model: { type: "string" },
        seed: { type: "string", default: "0" },
        summary: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    console.error(`Option --seed must be a non-negative integer, got "${values.seed}"`);
    return 2;
  }
  try {
    const model = await modelFromOptions({ preset: values.preset, model: values.model, seed }, defaultRegistry);
    if (values.summary) {
      console.log(formatSummary(model));
      return 0;
    }
    console.error("Training on MNIST is not implemented yet; use --summary");
    return 1;
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
