/**
 * The two runtimes of the export tests: onnxruntime-web in this process and
 * onnxruntime-node in a separate Deno process with --allow-ffi
 * (tests/_ort_node.ts), so the test task itself needs no FFI permission.
 */
import { join } from "node:path";
import * as ort from "onnxruntime-web";
import { deno, ROOT } from "./_task.ts";

// One thread: no worker left running between tests, and the same order of sums every run.
ort.env.wasm.numThreads = 1;

/** One graph input. */
export interface Feed {
  readonly type: "float32" | "uint8";
  readonly dims: readonly number[];
  readonly data: Float32Array | Uint8Array;
}

/** Graph outputs by name; int64 values as numbers. */
export type Results = Record<string, { dims: number[]; data: number[] }>;

/** The part of an onnxruntime-web bundle (plain or webgpu) the runners use. */
type OrtWeb = Pick<typeof ort, "InferenceSession" | "Tensor">;

/** Runs a model in a bundle of onnxruntime-web on the given execution providers. */
async function runIn(
  bundle: OrtWeb,
  model: Uint8Array,
  feeds: Record<string, Feed>,
  executionProviders?: string[],
): Promise<Results> {
  const session = await bundle.InferenceSession.create(model, executionProviders ? { executionProviders } : {});
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) tensors[name] = new bundle.Tensor(f.type, f.data, [...f.dims]);
    const out = await session.run(tensors);
    return Object.fromEntries(
      Object.entries(out).map((
        [k, t],
      ) => [k, { dims: [...t.dims], data: Array.from(t.data as ArrayLike<number | bigint>, Number) }]),
    );
  } finally {
    await session.release();
  }
}

/** Runs a model in onnxruntime-web (WASM). */
export function runWeb(model: Uint8Array, feeds: Record<string, Feed>): Promise<Results> {
  return runIn(ort, model, feeds);
}

/** Writes each feed's values to `dir` (files named `prefix` + input name); returns the child runners' feed spec. */
async function writeFeeds(dir: string, prefix: string, feeds: Record<string, Feed>) {
  const spec: Record<string, { type: string; dims: readonly number[]; file: string }> = {};
  for (const [name, f] of Object.entries(feeds)) {
    const file = join(dir, `${prefix}${name}.bin`);
    await Deno.writeFile(file, new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.byteLength));
    spec[name] = { type: f.type, dims: f.dims, file };
  }
  return spec;
}

/** `deno run` arguments for one of the tests' runner scripts, with the project's config and the given permissions. */
const denoRun = (permissions: string[], script: string, args: string[]) => [
  "run",
  "--config",
  join(ROOT, "deno.json"),
  ...permissions,
  join(ROOT, "tests", script),
  ...args,
];

/** Runs a model file in onnxruntime-node, in a Deno subprocess allowed only to read and to load the native library. */
export async function runNode(modelPath: string, feeds: Record<string, Feed>): Promise<Results> {
  const dir = await Deno.makeTempDir({ prefix: "lenet5-ort-node-" });
  try {
    const spec = await writeFeeds(dir, "", feeds);
    const out = await deno(denoRun(["--allow-read", "--allow-ffi"], "_ort_node.ts", [modelPath, JSON.stringify(spec)]));
    if (out.code !== 0) throw new Error(`onnxruntime-node failed (exit code ${out.code}):\n${out.stderr}`);
    return JSON.parse(out.stdout);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The WebGPU adapter Deno's navigator.gpu offers here (asked in a child process), or null with the reason. */
export async function webGpuAdapter(): Promise<{ adapter: string | null; why: string }> {
  const out = await deno([
    "eval",
    "const a = await navigator.gpu?.requestAdapter(); console.log(a ? a.info.description || a.info.vendor : '')",
  ]);
  const adapter = out.stdout.trim();
  return adapter
    ? { adapter, why: adapter }
    : { adapter: null, why: "navigator.gpu offers no adapter (no GPU and no software driver such as Mesa's llvmpipe)" };
}

/**
 * Runs models on onnxruntime-web's WebGPU backend, all in one child process
 * (tests/_ort_webgpu.ts): the outputs of each, in order.
 */
export async function runWebGpu(jobs: { model: Uint8Array; feeds: Record<string, Feed> }[]): Promise<Results[]> {
  const dir = await Deno.makeTempDir({ prefix: "lenet5-ort-webgpu-" });
  try {
    const spec = [];
    for (const [j, job] of jobs.entries()) {
      const model = join(dir, `model${j}.onnx`);
      await Deno.writeFile(model, job.model);
      spec.push({ model, feeds: await writeFeeds(dir, `${j}-`, job.feeds) });
    }
    const jobsPath = join(dir, "jobs.json"), resultsPath = join(dir, "results.json");
    await Deno.writeTextFile(jobsPath, JSON.stringify(spec));
    const out = await deno(denoRun(["--allow-read", "--allow-write"], "_ort_webgpu.ts", [jobsPath, resultsPath]));
    const written = await Deno.readTextFile(resultsPath).then((t) => JSON.parse(t), () => null);
    if (out.code !== 0 || !written?.results) {
      throw new Error(`onnxruntime-web on WebGPU failed (exit code ${out.code}, signal ${out.signal}):\n${out.stderr}`);
    }
    return written.results;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
