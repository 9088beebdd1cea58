/**
 * Size limits (engine/limits.ts): an oversized graph is refused at once, before
 * anything is allocated, with a GraphError that names the field or the totals
 * and the limit. Each case builds on a kernel backend that counts the buffers
 * it hands out, and none may be taken before the refusal.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type BuildOptions, type GraphSpec, type LayerSpec } from "../engine/model.ts";
import { jsKernels, type KernelBackend } from "../engine/kernels.ts";
import { GraphError } from "../engine/types.ts";
import { PRESETS } from "../presets/presets.ts";

/** The js backend, counting the float32 values of the buffers it hands out. */
const counting = { ...jsKernels, values: 0, floats: (n: number) => (counting.values += n, new Float32Array(n)) };
const kernels: KernelBackend = counting;

/** Runs `f`, which must throw before `counting` hands out a buffer; returns what it threw. */
function thrownBeforeAllocation(f: () => unknown): unknown {
  const before = counting.values;
  let error: unknown = null;
  try {
    f();
  } catch (e) {
    error = e;
  }
  assert.ok(error !== null, "expected an error");
  assert.equal(counting.values - before, 0, "float32 values allocated before the refusal");
  return error;
}

/** The GraphError that building `graph` throws (before any buffer is allocated). */
function refused(graph: unknown, options: Partial<BuildOptions> = {}): GraphError {
  const error = thrownBeforeAllocation(() =>
    buildModel(graph as GraphSpec, { registry: defaultRegistry, kernels, ...options })
  );
  assert.ok(error instanceof GraphError, `expected a GraphError, got ${error}`);
  return error;
}

/** LeNet-5 with layer `index` changed by `patch`. */
function lenet5With(index: number, patch: Record<string, unknown>, input?: number[]): GraphSpec {
  const graph = PRESETS.lenet5.graph;
  return {
    ...graph,
    input: input ?? graph.input,
    layers: graph.layers.map((l, i) => (i === index ? { ...l, ...patch } : l)),
  };
}

function graphOf(input: number[], layers: LayerSpec[]): GraphSpec {
  return { input, layers, loss: { type: "softmax-cross-entropy" } };
}

Deno.test("limits: conv2d maps 60000 is refused by its field bound", () => {
  assert.equal(
    refused(lenet5With(0, { maps: 60_000 })).message,
    `Cannot build layer "C1" (conv2d): field "maps" must be an integer in 1..16384 (MAX_MAPS), got 60000`,
  );
});

Deno.test("limits: conv2d maps 1e9 is refused by its field bound", () => {
  assert.equal(
    refused(lenet5With(0, { maps: 1e9 })).message,
    `Cannot build layer "C1" (conv2d): field "maps" must be an integer in 1..16384 (MAX_MAPS), got 1000000000`,
  );
});

Deno.test("limits: full units 1e9 is refused by its field bound", () => {
  assert.equal(
    refused(graphOf([16], [{ type: "full", name: "F", units: 1e9 }])).message,
    `Cannot build layer "F" (full): field "units" must be an integer in 1..65536 (MAX_UNITS), got 1000000000`,
  );
});

Deno.test("limits: kernels, windows, strides and padding are bounded", () => {
  const cases: [LayerSpec, string][] = [
    [{ type: "conv2d", name: "C", maps: 6, kernel: 5000 }, `field "kernel" must be an integer in 1..1024`],
    [{ type: "conv2d", name: "C", maps: 6, kernel: 5, stride: 1e6 }, `field "stride" must be an integer in 1..1024`],
    [{ type: "conv2d", name: "C", maps: 6, kernel: 5, padding: 1e9 }, `field "padding" must be an integer in 0..1024`],
    [{ type: "maxpool", name: "C", size: 2048 }, `field "size" must be an integer in 1..1024`],
    [{ type: "subsample", name: "C", stride: 1e9 }, `field "stride" must be an integer in 1..1024`],
  ];
  for (const [spec, text] of cases) {
    const message = refused(graphOf([1, 32, 32], [spec])).message;
    assert.ok(message.startsWith(`Cannot build layer "C" (${spec.type}): ${text} (MAX_WINDOW), got `), message);
  }
});

Deno.test("limits: an input of [100000, 32, 32] is refused before an unknown field further on", () => {
  assert.equal(
    refused(lenet5With(2, { kernal: 5 }, [100_000, 32, 32])).message,
    `Cannot build graph: field "input" entry 0 must be an integer in 1..65536 (MAX_DIM), got 100000`,
  );
  assert.equal(
    refused({ ...PRESETS.lenet5.graph, input: [60_000, 32, 32] }).message,
    `Cannot build graph: field "input" [60000, 32, 32] holds 61,440,000 values per sample, over the limit of 16,777,216 (MAX_ACTIVATIONS)`,
  );
  assert.equal(
    refused({ ...PRESETS.lenet5.graph, input: [1, 1, 1, 1, 1, 1, 1, 1, 32] }).message,
    `Cannot build graph: field "input" must have at most 8 dimensions (MAX_RANK), got 9`,
  );
});

Deno.test("limits: a large legal input and conv2d still report an unknown field further on", () => {
  // 4096 x 1024 map pairs: a listing per input map would be quadratic in the maps.
  const graph = graphOf([4096, 32, 32], [
    { type: "conv2d", name: "C1", maps: 1024, kernel: 1 },
    { type: "maxpool", name: "P2", sise: 2 },
  ]);
  assert.equal(
    refused(graph).message,
    `Cannot build layer "P2" (maxpool): field "sise" is not a known field; expected "size", "stride"`,
  );
});

Deno.test("limits: a conv2d with too many map pairs is refused before its table is read", () => {
  const table = Array.from({ length: 4096 }, () => [1]);
  assert.equal(
    refused(graphOf([4096, 8, 8], [{ type: "conv2d", name: "C", maps: 2048, kernel: 1, table }])).message,
    `Cannot build layer "C" (conv2d): 4096 input maps x 2048 output maps make 8,388,608 map pairs, over the limit of 4,194,304 (MAX_MAP_PAIRS)`,
  );
});

Deno.test("limits: total parameters over MAX_PARAMETERS from individually legal layers", () => {
  const graph = graphOf([8192], [{ type: "full", name: "F1", units: 4096 }, { type: "full", name: "F2", units: 4096 }]);
  assert.equal(
    refused(graph).message,
    `Cannot build layer "F2" (full): its 16,781,312 parameters bring the model's parameters to 50,339,840, over the limit of 50,000,000 (MAX_PARAMETERS)`,
  );
});

Deno.test("limits: values per sample over MAX_ACTIVATIONS from a legal conv2d", () => {
  assert.equal(
    refused(graphOf([1, 32, 32], [{ type: "conv2d", name: "C", maps: 16_384, kernel: 1 }])).message,
    `Cannot build layer "C" (conv2d): its output [16384, 32, 32] brings the values per sample (input and outputs) to 16,778,240, over the limit of 16,777,216 (MAX_ACTIVATIONS)`,
  );
});

Deno.test("limits: buffers over MAX_BUFFER_BYTES in float64 are refused before they are allocated", () => {
  const graph = graphOf([11_000], [{ type: "full", name: "F", units: 4096 }]);
  assert.equal(
    refused(graph, { dtype: "float64" }).message,
    `Cannot build graph: its buffers (45,060,096 parameters, 45,060,096 of them trainable, and 15,096 values per sample, in float64) take 1,032 MiB, over the limit of 1,024 MiB (MAX_BUFFER_BYTES)`,
  );
});

Deno.test("limits: rbf codes are bounded in number and size", () => {
  const codes = Array.from({ length: 65_537 }, () => "01");
  assert.equal(
    refused(graphOf([2], [{ type: "rbf", name: "R", codes }])).message,
    `Cannot build layer "R" (rbf): field "codes" must hold at most 65536 codes (MAX_UNITS), got 65537`,
  );
});

Deno.test("limits: a graph that is not an object names what was expected", () => {
  const cases: [unknown, string][] = [
    [null, "null"],
    [undefined, "undefined"],
    [[1, 2], "a list [1,2]"],
    ["lenet5", `a string "lenet5"`],
    [5, "a number 5"],
  ];
  for (const [graph, got] of cases) {
    assert.equal(
      refused(graph).message,
      `Cannot build graph: expected an object with fields "input", "layers" and "loss", got ${got}`,
    );
  }
});

Deno.test("limits: a batch whose activation buffers exceed MAX_BUFFER_BYTES is refused before allocating", () => {
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, kernels });
  assert.ok(counting.values >= model.params.length, "the model's buffers come from the counting backend");
  const error = thrownBeforeAllocation(() => model.forward(new Float32Array(0), 100_000));
  assert.ok(error instanceof RangeError);
  assert.match(
    error.message,
    /^Cannot run model: a batch of 100000 needs [\d,]+ MiB of activation buffers, over the limit of 1,024 MiB \(MAX_BUFFER_BYTES\); expected a batch of at most [\d,]+$/,
  );
});

Deno.test("limits: the presets build within every limit", () => {
  for (const name of ["lenet5", "lenet5-literal", "lenet5-modern"]) {
    const model = buildModel(PRESETS[name].graph, { registry: defaultRegistry, seed: 1 });
    assert.equal(model.classes, 10, name);
    assert.equal(model.forward(new Float32Array(2 * model.inputSize), 2).length, 20, name);
  }
});
