/**
 * The two runtimes of the export tests: onnxruntime-web in this process and
 * onnxruntime-node in a separate Deno process with --allow-ffi
 * (tests/_ort_node.ts), so the test task itself needs no FFI permission.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-web";

// One thread: no worker left running between tests, and the same order of sums every run.
ort.env.wasm.numThreads = 1;

const ROOT = fileURLToPath(new URL("..", import.meta.url));

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

/** Runs a model file in onnxruntime-node, in a Deno subprocess allowed only to read and to load the native library. */
export async function runNode(modelPath: string, feeds: Record<string, Feed>): Promise<Results> {
  const dir = await Deno.makeTempDir({ prefix: "lenet5-ort-node-" });
  try {
    const spec: Record<string, unknown> = {};
    for (const [name, f] of Object.entries(feeds)) {
      const file = join(dir, `${name}.bin`);
      await Deno.writeFile(file, new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.byteLength));
      spec[name] = { type: f.type, dims: f.dims, file };
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--config",
        join(ROOT, "deno.json"),
        "--allow-read",
        "--allow-ffi",
        join(ROOT, "tests", "_ort_node.ts"),
        modelPath,
        JSON.stringify(spec),
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (out.code !== 0) throw new Error(`onnxruntime-node failed (exit code ${out.code}):\n${stderr}`);
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The WebGPU adapter this process is offered (Deno's navigator.gpu), or null with the reason. */
export async function webGpuAdapter(): Promise<{ adapter: GPUAdapter | null; why: string }> {
  if (!("gpu" in navigator) || !navigator.gpu) return { adapter: null, why: "navigator.gpu is absent" };
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  return adapter
    ? { adapter, why: adapter.info.description || adapter.info.vendor }
    : { adapter: null, why: "navigator.gpu offers no adapter (no GPU and no software driver such as Mesa's llvmpipe)" };
}

/** Runs a model on onnxruntime-web's WebGPU backend (its webgpu bundle, loaded on first use). */
export async function runWebGpu(model: Uint8Array, feeds: Record<string, Feed>): Promise<Results> {
  const gpu = await import("onnxruntime-web/webgpu");
  gpu.env.wasm.numThreads = 1;
  return runIn(gpu as unknown as OrtWeb, model, feeds, ["webgpu"]);
}
