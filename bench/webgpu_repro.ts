/**
 * The smallest graph we found that onnxruntime-web's WebGPU backend computes
 * wrong, for reporting upstream (docs/webgpu.md): one Conv with 6 input
 * channels and 4 output channels. Input channel c holds c + 1 everywhere and
 * every weight is 1 (2x2 kernels on a 3x3 input), so each output is
 * 4 x (1 + 2 + ... + 6) = 84; WebGPU answers 48, channels 1-3 summed twice.
 *
 *   deno run --allow-read bench/webgpu_repro.ts
 *
 * @module
 */
import * as ort from "onnxruntime-web/webgpu";
import { DataType, encodeModel, makeGraph, makeModel, makeNode, makeTensor, makeValueInfo } from "../export/proto.ts";

/** One Conv, `inC` -> `outC` channels, 2x2 kernels of ones, no bias, on [1, inC, 3, 3]. */
export function convModel(inC: number, outC: number): Uint8Array {
  const graph = makeGraph(
    [makeNode("Conv", ["x", "w"], ["y"], { attributes: { kernel_shape: { ints: [2, 2] } } })],
    "conv",
    [makeValueInfo("x", DataType.FLOAT, [1, inC, 3, 3])],
    [makeValueInfo("y", DataType.FLOAT, [1, outC, 2, 2])],
    [makeTensor("w", DataType.FLOAT, [outC, inC, 2, 2], new Array(outC * inC * 4).fill(1))],
  );
  return encodeModel(makeModel(graph, { opset: 17, irVersion: 8, producerName: "lenet5-ts webgpu_repro" }));
}

/** Runs the graph on one backend; returns the outputs. */
export async function runConv(inC: number, outC: number, backend: "wasm" | "webgpu"): Promise<number[]> {
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(convModel(inC, outC), { executionProviders: [backend] });
  const x = Float32Array.from({ length: inC * 9 }, (_, i) => Math.floor(i / 9) + 1);
  const out = await session.run({ x: new ort.Tensor("float32", x, [1, inC, 3, 3]) });
  await session.release();
  return Array.from(out.y.data as Float32Array);
}

if (import.meta.main) {
  const adapter = await navigator.gpu?.requestAdapter();
  console.log(`onnxruntime-web ${ort.env.versions.web}, adapter: ${adapter?.info.description ?? "none"}`);
  for (const [inC, outC] of [[6, 4], [6, 2], [8, 4], [9, 4], [3, 4]]) {
    const wasm = await runConv(inC, outC, "wasm"), gpu = await runConv(inC, outC, "webgpu");
    console.log(`Conv ${inC} -> ${outC} channels: wasm [${wasm}]  webgpu [${gpu}]`);
  }
}
