/**
 * Runs a .onnx model in onnxruntime-node, the second runtime of the export
 * tests, in its own Deno process (it needs --allow-ffi; its postinstall
 * script never runs: the native binaries ship in the npm package).
 *
 *   deno run --allow-read --allow-ffi tests/_ort_node.ts MODEL.onnx FEEDS_JSON
 *
 * FEEDS_JSON maps each input name to { type: "float32" | "uint8", dims, file }
 * (the file holds the values, little-endian). Prints the outputs as JSON:
 * { name: { dims, data } }, int64 values as numbers.
 */
import * as ort from "onnxruntime-node";

interface FeedFile {
  type: "float32" | "uint8";
  dims: number[];
  file: string;
}

const [modelPath, feedsJson] = Deno.args;
const session = await ort.InferenceSession.create(modelPath);
const feeds: Record<string, ort.Tensor> = {};
for (const [name, f] of Object.entries(JSON.parse(feedsJson) as Record<string, FeedFile>)) {
  const bytes = await Deno.readFile(f.file);
  feeds[name] = new ort.Tensor(f.type, f.type === "uint8" ? bytes : new Float32Array(bytes.buffer), f.dims);
}
const out = await session.run(feeds);
const result = Object.fromEntries(
  Object.entries(out).map((
    [k, t],
  ) => [k, { dims: t.dims, data: Array.from(t.data as ArrayLike<number | bigint>, Number) }]),
);
console.log(JSON.stringify(result));
await session.release();
