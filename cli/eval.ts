/**
 * `deno task eval`: a saved model on the test set: error, per-class
 * precision, recall and F1, macro F1, confusion matrix.
 *
 * @module
 */
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { preparedData } from "../data/prepare.ts";
import { checkSplitFits } from "../data/source.ts";
import { evaluate } from "../engine/evaluate.ts";
import { ParallelTrainer } from "../engine/parallel.ts";
import { classificationMetrics, formatMetrics } from "../engine/metrics.ts";
import { loadModel } from "../engine/model_file.ts";
import { kernelsOption, OptionError, runCommand } from "./_command.ts";

const HELP = `Usage: deno task eval --model RUN_DIR_OR_FILE [--data DIR] [--threads N] [--kernels K] [--json]

Evaluates a saved model on the test set: error, per-digit precision, recall
and F1, macro F1, and the confusion matrix.

  --model PATH   a run folder (its model.json) or a model file
  --data DIR     an MNIST-format folder instead of the original MNIST
  --threads N    threads sharing the batches (default 1)
  --kernels K    wasm (WebAssembly SIMD kernels), js, or auto (default): wasm where
                 the runtime has WebAssembly SIMD and shared memory, else js
  --json         print the metrics as JSON
  -h, --help     show this help
  --version      print the version (from deno.json)
`;

/** Runs the command; returns the exit code. */
export function main(args: string[]): Promise<number> {
  const options = {
    model: { type: "string" },
    data: { type: "string" },
    threads: { type: "string" },
    kernels: { type: "string" },
    json: { type: "boolean", default: false },
  } as const;
  return runCommand(args, options, HELP, async (values) => {
    if (!values.model) throw new OptionError("Option --model is required (a run folder or a model file)");
    const threads = Number(values.threads ?? 1);
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new OptionError(`Option --threads must be an integer in 1..64, got "${values.threads}"`);
    }
    const kernels = kernelsOption(values.kernels as string | undefined);
    let path = values.model as string;
    if ((await Deno.stat(path).catch(() => null))?.isDirectory) path = join(path, "model.json");
    const model = await loadModel(path, defaultRegistry, { kernels });
    const data = preparedData(await loadMnist({ dir: values.data as string | undefined }), model.prepare);
    checkSplitFits(model, data.test, "test images");
    const parallel = threads > 1 ? await ParallelTrainer.create(model, { threads }) : undefined;
    let result;
    try {
      result = evaluate(model, data.test, { parallel });
    } finally {
      parallel?.close();
    }
    const metrics = classificationMetrics(result.predictions, data.test.labels, model.classes);
    if (values.json) console.log(JSON.stringify({ model: path, data: data.source, ...metrics }, null, 2));
    else console.log(`Model: ${path}\nData: ${data.source}\n\n${formatMetrics(metrics)}`);
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
