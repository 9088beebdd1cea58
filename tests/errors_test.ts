/** Bad graphs and configs give errors that name the layer, the field and what was expected. */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { buildModel, type GraphSpec, type LayerSpec } from "../engine/model.ts";
import { createOptimizer } from "../engine/train.ts";
import { GraphError } from "../engine/types.ts";
import { PRESETS } from "../presets/presets.ts";

const LAYER_TYPES = "avgpool, conv2d, flatten, full, maxpool, rbf, relu, squash, subsample, tanh";

function graphWith(layers: LayerSpec[], input = [1, 12, 12]): GraphSpec {
  return { input, layers, loss: { type: "softmax-cross-entropy" } };
}

function buildError(graph: unknown): Error {
  try {
    buildModel(graph as GraphSpec, { registry: defaultRegistry });
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected buildModel to throw");
}

Deno.test("errors: an unknown layer type names the layer and lists the registered types", () => {
  const e = buildError(graphWith([{ type: "conv3d", name: "C1", maps: 6 }]));
  assert.equal(
    e.message,
    `Cannot find registered layer type "conv3d" for layer "C1"; registered layer types: ${LAYER_TYPES}`,
  );
  assert.ok(e instanceof TypeError);
});

Deno.test("errors: a bad config value names the layer, the field, what was expected and what it got", () => {
  const cases: [LayerSpec, string][] = [
    [
      { type: "conv2d", name: "C1", maps: 6, kernel: 0 },
      `Cannot build layer "C1" (conv2d): field "kernel" must be an integer in 1..1024 (MAX_WINDOW), got 0`,
    ],
    [
      { type: "conv2d", name: "C1", maps: 6 },
      `Cannot build layer "C1" (conv2d): field "kernel" is required: expected an integer in 1..1024 (MAX_WINDOW)`,
    ],
    [
      { type: "conv2d", name: "C1", maps: "six", kernel: 5 },
      `Cannot build layer "C1" (conv2d): field "maps" must be an integer in 1..16384 (MAX_MAPS), got "six"`,
    ],
    [
      { type: "conv2d", name: "C1", maps: 6, kernal: 5 },
      `Cannot build layer "C1" (conv2d): field "kernel" is required: expected an integer in 1..1024 (MAX_WINDOW)`,
    ],
    [
      { type: "conv2d", name: "C1", maps: 6, kernel: 5, kernal: 5 },
      `Cannot build layer "C1" (conv2d): field "kernal" is not a known field; expected "kernel", "maps", "padding", "stride", "table"`,
    ],
    [
      { type: "conv2d", name: "C3", maps: 2, kernel: 3, table: [[1, 0, 1]] },
      `Cannot build layer "C3" (conv2d): field "table" must be 1 rows (one per input map) of 2 entries 0 or 1 (one per output map), got [[1,0,1]]`,
    ],
    [
      { type: "conv2d", name: "C3", maps: 2, kernel: 3, table: [[1, 0]] },
      `Cannot build layer "C3" (conv2d): field "table" leaves output map 1 with no input map; expected at least one 1 in column 1`,
    ],
    [
      { type: "squash", name: "f", A: -1 },
      `Cannot build layer "f" (squash): field "A" must be a finite number > 0, got -1`,
    ],
    [
      { type: "subsample", name: "S2", size: 0 },
      `Cannot build layer "S2" (subsample): field "size" must be an integer in 1..1024 (MAX_WINDOW), got 0`,
    ],
    [
      { type: "maxpool", name: "P", init: "magic" },
      `Cannot build layer "P" (maxpool): field "init" must be one of paper, paper-sqrt, mean, he-uniform, he-normal, glorot-uniform, lecun-normal, got "magic"`,
    ],
  ];
  for (const [spec, message] of cases) {
    const e = buildError(graphWith([spec]));
    assert.ok(e instanceof GraphError, `${message}: ${e}`);
    assert.equal(e.message, message);
  }
});

Deno.test("errors: a shape mismatch names the layer, the shape it got and what it expected", () => {
  const cases: [GraphSpec, string][] = [
    [
      graphWith([{ type: "conv2d", name: "C1", maps: 6, kernel: 5 }, { type: "full", name: "F6", units: 84 }]),
      `Cannot build layer "F6" (full): input shape [6, 8, 8] must be 1-D [features]; add a "flatten" layer before it`,
    ],
    [
      graphWith([{ type: "conv2d", name: "C5", maps: 120, kernel: 5 }], [16, 3, 3]),
      `Cannot build layer "C5" (conv2d): input shape [16, 3, 3] is smaller than the 5x5 kernel (padding 0); expected height and width >= 5`,
    ],
    [
      graphWith([{ type: "conv2d", name: "C1", maps: 6, kernel: 5 }], [784]),
      `Cannot build layer "C1" (conv2d): input shape [784] must be 3-D [maps, height, width]`,
    ],
    [
      graphWith([{ type: "subsample", name: "S2", size: 2 }], [6, 7, 7]),
      `Cannot build layer "S2" (subsample): input shape [6, 7, 7] does not tile into 2x2 windows with stride 2; expected (height - size) and (width - size) to be multiples of the stride`,
    ],
    [
      graphWith([{ type: "rbf", name: "OUTPUT", codes: ["0101", "1100"] }], [84]),
      `Cannot build layer "OUTPUT" (rbf): field "codes" entry 0 has 4 values, expected 84 (the size of the input, shape [84])`,
    ],
  ];
  for (const [graph, message] of cases) assert.equal(buildError(graph).message, message);
});

Deno.test("errors: bad graph fields, unknown loss and optimizer, duplicate names", () => {
  const map = { type: "map" }, relu = [{ type: "relu" }];
  const cases: [unknown, string | RegExp][] = [
    [{ layers: [], loss: map }, /^Cannot build graph: field "input" must be a non-empty list/],
    [{ input: [4], layers: [], loss: map }, `Cannot build graph: field "layers" must list at least one layer, got []`],
    [
      { input: [4], layers: relu, loss: { type: "hinge" } },
      `Cannot find registered loss type "hinge" for the graph's loss; registered loss types: map, mse-rbf, softmax-cross-entropy`,
    ],
    [
      { input: [4], layers: relu, loss: { type: "map", j: -1 } },
      `Cannot build loss (map): field "j" must be a finite number >= 0, got -1`,
    ],
    [
      { input: [4], layers: [{ type: "relu", name: "a" }, { type: "tanh", name: "a" }], loss: map },
      `Cannot build layer 1: name "a" is used by an earlier layer`,
    ],
    [
      { input: [4], layers: relu, loss: map, extra: 1 },
      `Cannot build graph: field "extra" is not a known field; expected "init", "input", "layers", "loss", "name", "pad", "prepare"`,
    ],
  ];
  for (const [graph, message] of cases) {
    const got = buildError(graph).message;
    if (typeof message === "string") assert.equal(got, message);
    else assert.match(got, message);
  }
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
  assert.throws(
    () => createOptimizer({ type: "lbfgs" }, model, defaultRegistry),
    {
      message:
        `Cannot find registered optimizer type "lbfgs" for the optimizer; registered optimizer types: adam, sdlm, sgd`,
    },
  );
  assert.throws(
    () => createOptimizer({ type: "sdlm", mu: 0 }, model, defaultRegistry),
    { message: `Cannot build optimizer (sdlm): field "mu" must be a finite number > 0, got 0` },
  );
});

Deno.test("errors: running a model with a bad batch or bad labels", () => {
  const model = buildModel(graphWith([{ type: "flatten" }, { type: "full", units: 3 }], [1, 2, 2]), {
    registry: defaultRegistry,
  });
  assert.throws(() => model.forward(new Float32Array(3), 1), {
    message: "Cannot run model: input holds 3 values, expected 4 (1 x [1, 2, 2])",
  });
  assert.throws(() => model.forward(new Float32Array(4), 0), {
    message: "Cannot run model: batch size must be an integer >= 1, got 0",
  });
  model.forward(new Float32Array(4), 1);
  assert.throws(() => model.backward([3]), {
    message: "Cannot compute the loss: label 0 is 3, expected an integer in 0..2",
  });
});
