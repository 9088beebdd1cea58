/**
 * `deno task knn`: the paper's K-NN rows of Fig. 9: each test digit gets the
 * class of its nearest training digits by Euclidean distance on the pixels
 * (scaled as the paper's preprocessing scales them; `--deslant`: deslanted
 * and cropped to 20x20 first), found on the engine's kernels
 * (engine/nearest.ts). No training, no seed.
 *
 * @module
 */
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { preparedData } from "../data/prepare.ts";
import { preprocess } from "../data/preprocess.ts";
import { nearestNeighbours, vote } from "../engine/nearest.ts";
import { writeFileAtomic } from "../engine/model_file.ts";
import { kernelsOption, OptionError, runCommand } from "./_command.ts";

const HELP = `Usage: deno task knn [--k 3] [--deslant] [--limit N] [--out DIR] [--data DIR] [--kernels K]

Classifies the MNIST test set by its nearest training digits (Euclidean
distance on the pixels, scaled to -0.1..1.175 as the paper's preprocessing
does): the paper's K-NN rows of Fig. 9. Prints the test error for each k up to
--k; with --out, writes DIR/summary.json.

  --k K          neighbours that vote (default 3; every k from 1 up is reported)
  --deslant      deslant each image and crop it to 20x20 first (data/prepare.ts)
  --limit N      compare with the first N training digits only (quick runs)
  --out DIR      write the result to DIR/summary.json
  --data DIR     an MNIST-format folder instead of the original MNIST
  --kernels K    wasm (WebAssembly SIMD kernels), js, or auto (default)
  -h, --help     show this help
  --version      print the version (from deno.json)
`;

/** Test digits searched between two progress lines. */
const CHUNK = 1000;

/** Runs the command; returns the exit code. */
export function main(args: string[]): Promise<number> {
  const options = {
    k: { type: "string" },
    deslant: { type: "boolean", default: false },
    limit: { type: "string" },
    out: { type: "string" },
    data: { type: "string" },
    kernels: { type: "string" },
  } as const;
  return runCommand(args, options, HELP, async (values) => {
    const k = Number(values.k ?? 3);
    if (!Number.isInteger(k) || k < 1 || k > 100) {
      throw new OptionError(`Option --k must be an integer in 1..100, got "${values.k}"`);
    }
    const limit = values.limit === undefined ? undefined : Number(values.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= k)) {
      throw new OptionError(`Option --limit must be an integer of at least --k (${k}), got "${values.limit}"`);
    }
    const kernels = kernelsOption(values.kernels as string | undefined);
    const started = performance.now();
    const steps = values.deslant ? [{ type: "deslant", size: 20 } as const] : [];
    const data = preparedData(await loadMnist({ dir: values.data as string | undefined }), steps);
    const { train, test } = data, size = train.rows * train.cols;
    const count = Math.min(limit ?? train.count, train.count);
    const reference = preprocess(train.images.subarray(0, count * size), count, train.rows, train.cols, { pad: 0 });
    const x = preprocess(test.images, test.count, test.rows, test.cols, { pad: 0 });
    const n = (v: number) => v.toLocaleString("en-US");
    console.log(
      `Data: ${data.source}: ${n(count)} training digits to compare with, ${n(test.count)} test digits, ` +
        `${train.rows}x${train.cols}${values.deslant ? " deslanted" : ""}`,
    );
    const nn = nearestNeighbours({ x: reference, labels: train.labels.subarray(0, count), size }, {
      registry: defaultRegistry,
      kernels,
    });
    const index = new Int32Array(test.count * k), distance = new Float32Array(test.count * k);
    for (let start = 0; start < test.count; start += CHUNK) {
      const m = Math.min(CHUNK, test.count - start);
      const found = nn.search(x.subarray(start * size, (start + m) * size), m, k);
      index.set(found.index, start * k);
      distance.set(found.distance, start * k);
      const seconds = (performance.now() - started) / 1000;
      console.log(`  ${n(start + m)} of ${n(test.count)} test digits searched (${seconds.toFixed(0)} s)`);
    }
    const errors = Array.from({ length: k }, (_, i) => {
      const first = new Int32Array(test.count * (i + 1));
      for (let p = 0; p < test.count; p++) first.set(index.subarray(p * k, p * k + i + 1), p * (i + 1));
      const classes = vote({ index: first, distance, k: i + 1 }, train.labels);
      return classes.filter((c, p) => c !== test.labels[p]).length / test.count;
    });
    const wallSeconds = (performance.now() - started) / 1000;
    for (const [i, e] of errors.entries()) console.log(`k = ${i + 1}: test error ${(100 * e).toFixed(2)}%`);
    console.log(`Done in ${wallSeconds.toFixed(0)} s on the ${nn.model.kernels} kernels.`);
    if (values.out) {
      const out = values.out as string;
      await Deno.mkdir(out, { recursive: true });
      const summary = {
        settings: { passes: 0, k, deslant: values.deslant, reference: count, kernels: nn.model.kernels },
        seed: 0,
        passesDone: 0,
        testError: errors[k - 1],
        testErrorByK: errors,
        trainError: null,
        wallSeconds,
        machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno },
        passes: [],
      };
      await writeFileAtomic(join(out, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
      console.log(`Written: ${join(out, "summary.json")}`);
    }
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
