/**
 * Runs .onnx models on onnxruntime-web's WebGPU backend in its own Deno
 * process, for tests/webgpu_test.ts: the test process itself never opens a
 * WebGPU device (a native device torn down at exit once crashed a whole test
 * run with "double free or corruption", after every test had passed).
 *
 *   deno run --allow-read --allow-write tests/_ort_webgpu.ts JOBS_JSON RESULTS_JSON
 *
 * JOBS_JSON is a file: a list of { model, feeds } with feeds as for
 * tests/_ort_node.ts ({ name: { type, dims, file } }). Writes the outputs of
 * each job, in order, to RESULTS_JSON ({ adapter, results }); with no
 * adapter, writes { adapter: null } and runs nothing.
 */
import * as ort from "onnxruntime-web/webgpu";

interface FeedFile {
  type: "float32" | "uint8";
  dims: number[];
  file: string;
}

const [jobsPath, resultsPath] = Deno.args;
const jobs = JSON.parse(await Deno.readTextFile(jobsPath)) as { model: string; feeds: Record<string, FeedFile> }[];
const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
if (!adapter) {
  await Deno.writeTextFile(resultsPath, JSON.stringify({ adapter: null }));
  Deno.exit(0);
}
ort.env.wasm.numThreads = 1;
const results = [];
for (const job of jobs) {
  const session = await ort.InferenceSession.create(await Deno.readFile(job.model), { executionProviders: ["webgpu"] });
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(job.feeds)) {
    const bytes = await Deno.readFile(f.file);
    feeds[name] = new ort.Tensor(f.type, f.type === "uint8" ? bytes : new Float32Array(bytes.buffer), f.dims);
  }
  const out = await session.run(feeds);
  results.push(Object.fromEntries(
    Object.entries(out).map((
      [k, t],
    ) => [k, { dims: t.dims, data: Array.from(t.data as ArrayLike<number | bigint>, Number) }]),
  ));
  await session.release();
}
await Deno.writeTextFile(
  resultsPath,
  JSON.stringify({ adapter: adapter.info.description || adapter.info.vendor, results }),
);
