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

/** Runs a model in onnxruntime-web. */
export async function runWeb(model: Uint8Array, feeds: Record<string, Feed>): Promise<Results> {
  const session = await ort.InferenceSession.create(model);
  try {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, f] of Object.entries(feeds)) tensors[name] = new ort.Tensor(f.type, f.data, [...f.dims]);
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
