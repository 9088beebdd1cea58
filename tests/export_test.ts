/**
 * ONNX export: each layer's lowering and whole trained models run in
 * onnxruntime-web (and onnxruntime-node, a second runtime in its own process)
 * with the engine's results; the file decodes back and its bytes are
 * deterministic; the export and predict commands work as a user runs them.
 *
 * The runtimes compute in float32 and the engine sums in float64 before
 * rounding, so values agree to a tolerance: |a - b| <= abs + rel * max(|a|, |b|),
 * element by element (measured worst cases in brackets, seeds as below):
 * - one layer on random inputs: rel 1e-5, abs 5e-5 (C3 conv: 6.7e-6 abs on
 *   outputs near 0; RBF: 4.6e-5 abs on distances near 200, 3e-7 rel);
 * - whole trained models on 1,000 MNIST test images: scores rel 1e-5, abs
 *   1e-4 (lenet5's distances, up to 236: 1.1e-4 abs, 1.1e-6 rel; modern
 *   logits: 4.3e-6 abs), probabilities abs 3e-5 (3.1e-6); the predicted class
 *   must agree on every image (it does, in both runtimes).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { BUILTIN_LAYERS, createRegistries, defaultRegistry } from "../builtins.ts";
import { preprocess } from "../data/preprocess.ts";
import { buildModel, type LayerSpec } from "../engine/model.ts";
import { modelFromJSON, modelToJSON, saveModel } from "../engine/model_file.ts";
import { Rng } from "../engine/rng.ts";
import { GraphError, type LayerPlugin } from "../engine/types.ts";
import { decodePgm, readImages } from "../data/images.ts";
import { exportOnnx, intermediateName, ONNX_IR_VERSION, ONNX_OPSET, onnxModel } from "../export/onnx.ts";
import { DataType, encodeModel, makeGraph, makeModel, makeNode, makeValueInfo } from "../export/proto.ts";
import { mseRbfLoss } from "../losses/mse_rbf.ts";
import { C3_TABLE } from "../presets/lenet5_data.ts";
import { encodePng } from "../report/png.ts";
import { randomFill } from "./_helpers.ts";
import { assertClose, data, LAYER_CASES, onTestImages, trained } from "./_export_cases.ts";
import { readModel, tensorFloats, tensorInts } from "./_onnx_reader.ts";
import { type Results, runNode, runWeb } from "./_onnx_runtime.ts";
import { task } from "./_task.ts";
import { withTempDir } from "./_files.ts";

const LAYER_TOL = { rel: 1e-5, abs: 5e-5 };
const SCORE_TOL = { rel: 1e-5, abs: 1e-4 };
const PROB_TOL = { rel: 0, abs: 3e-5 };

/** The ops a graph may use: standard ONNX ops of the default domain. */
const STANDARD_OPS = new Set(
  "Conv AveragePool MaxPool Gemm Flatten Tanh Relu Mul Add Sub Neg Unsqueeze ReduceSum Softmax ArgMax Cast Pad Identity"
    .split(" "),
);

// ---------------------------------------------------------------- one layer

Deno.test("export: every built-in layer has a lowering and a case below", () => {
  for (const p of BUILTIN_LAYERS) {
    assert.equal(typeof p.lower, "function", `${p.type} declares lower()`);
    assert.ok(LAYER_CASES.some((c) => c.spec.type === p.type), `a case exports ${p.type}`);
  }
});

Deno.test("export: each layer alone runs in onnxruntime-web as the engine's forward pass, random inputs and params", async () => {
  const rng = new Rng(7);
  const n = 3;
  for (const { spec, input } of LAYER_CASES) {
    const what = `${spec.type} ${JSON.stringify({ ...spec, table: undefined, codes: undefined })} on [${input}]`;
    const model = buildModel({ input, layers: [spec], loss: { type: "mse-rbf" } }, { registry: defaultRegistry });
    randomFill(model.params, rng); // every parameter, the RBF codes too
    const x = randomFill(new Float32Array(n * model.inputSize), rng, -2, 2);
    const expected = model.forward(x, n).slice();
    const bytes = exportOnnx(model, { classify: false });
    const out = await runWeb(bytes, { input: { type: "float32", dims: [n, ...input], data: x } });
    assert.deepEqual(Object.keys(out), ["scores"], what);
    assert.deepEqual(out.scores.dims, [n, ...model.outputShape], what);
    assertClose(out.scores.data, expected, LAYER_TOL, what);
  }
});

Deno.test("export: the raw-input preprocessing takes other padding and levels as data/preprocess.ts does", async () => {
  const options = { pad: 1, background: 0.5, ink: -1 };
  const model = buildModel({ input: [1, 8, 10], layers: [{ type: "flatten" }], loss: { type: "mse-rbf" } }, {
    registry: defaultRegistry,
  });
  const images = Uint8Array.from({ length: 2 * 6 * 8 }, (_, i) => (i * 41) % 256);
  const bytes = exportOnnx(model, { rawInput: "uint8", preprocess: options, classify: false });
  const out = await runWeb(bytes, { image: { type: "uint8", dims: [2, 6, 8], data: images } });
  assert.deepEqual(out.scores.dims, [2, 80]);
  assertClose(out.scores.data, preprocess(images, 2, 6, 8, options), { rel: 1e-6, abs: 1e-7 }, "preprocessed");
});

// ---------------------------------------------------------------- whole models

/** Checks a runtime's outputs against the engine's on every image. */
function assertAgrees(
  out: Results,
  engine: { scores: ArrayLike<number>; probs: ArrayLike<number>; preds: Int32Array },
  what: string,
) {
  const n = engine.preds.length;
  assert.deepEqual(out.class.dims, [n], what);
  assert.deepEqual(out.class.data, Array.from(engine.preds), `${what}: predicted classes`);
  assertClose(out.scores.data, engine.scores, SCORE_TOL, `${what}: scores`);
  assertClose(out.probabilities.data, engine.probs, PROB_TOL, `${what}: probabilities`);
}

for (const name of ["lenet5", "lenet5-modern"] as const) {
  Deno.test(`export: ${name} trained briefly, on 1,000 MNIST test images: onnxruntime-web and -node agree with the engine, preprocessed and raw input`, async () => {
    const n = 1000;
    const { engine, labels, variants } = await onTestImages(name, n);
    const accuracy = engine.preds.filter((p, i) => p === labels[i]).length / n;
    assert.ok(accuracy > 0.5, `${name} learned something: ${accuracy}`);

    await withTempDir(async (dir) => {
      for (const v of variants) {
        for (const node of readModel(v.file).graph.nodes) {
          assert.ok(node.domain === "" && STANDARD_OPS.has(node.opType), `${node.opType} is a standard op`);
        }
        assertAgrees(await runWeb(v.file, v.feed), engine, `${name} ${v.what}, onnxruntime-web`);
        const path = join(dir, "model.onnx");
        await Deno.writeFile(path, v.file);
        assertAgrees(await runNode(path, v.feed), engine, `${name} ${v.what}, onnxruntime-node`);
      }
    }, "lenet5-onnx-");
  });
}

// ---------------------------------------------------------------- the file itself

Deno.test("export: the file decodes back to what was built, and two exports of one model are byte-identical", async () => {
  const model = await trained("lenet5");
  const a = exportOnnx(model, { rawInput: "uint8" });
  const again = modelFromJSON(JSON.parse(JSON.stringify(modelToJSON(model))), defaultRegistry);
  assert.deepEqual(exportOnnx(again, { rawInput: "uint8" }), a);
  assert.notDeepEqual(exportOnnx(model), a);

  const m = readModel(a);
  assert.deepEqual(m, onnxModel(model, { rawInput: "uint8" }));
  assert.equal(m.irVersion, ONNX_IR_VERSION);
  assert.deepEqual(m.opsetImports, [{ domain: "", version: ONNX_OPSET }]);
  assert.equal(m.producerName, "lenet5-ts");
  const g = m.graph;
  assert.equal(g.name, "lenet5");
  assert.deepEqual(g.inputs.map((v) => [v.name, v.elemType, v.shape]), [["image", DataType.UINT8, ["N", 28, 28]]]);
  assert.deepEqual(g.outputs.map((v) => [v.name, v.elemType, v.shape]), [
    ["scores", DataType.FLOAT, ["N", 10]],
    ["probabilities", DataType.FLOAT, ["N", 10]],
    ["class", DataType.INT64, ["N"]],
  ]);

  // Topological order: every node input is the graph input, an initializer or an earlier output.
  const known = new Set(["image", ...g.initializers.map((t) => t.name)]);
  assert.equal(known.size, g.initializers.length + 1, "initializer names are unique");
  for (const node of g.nodes) {
    for (const i of node.inputs) assert.ok(known.has(i), `${node.name}: input ${i} is defined before`);
    for (const o of node.outputs) known.add(o);
  }

  // Every weight is an initializer holding the model's values.
  const init = new Map(g.initializers.map((t) => [t.name, t]));
  const params = model.namedParams();
  for (
    const name of ["C1.weight", "C1.bias", "S2.bias", "C3.bias", "C5.weight", "F6.weight", "F6.bias", "OUTPUT.codes"]
  ) {
    assert.deepEqual(tensorFloats(init.get(name)!), Float32Array.from(params.get(name)!), name);
  }
  // C3's table: a dense kernel, zero exactly where the table has no connection; its input gets two zero channels
  // (6 -> 8, a Pad before the Conv) with zero kernels, which keeps onnxruntime-web's WebGPU right (docs/webgpu.md).
  const c3 = init.get("C3.weight")!;
  assert.deepEqual(c3.dims, [16, 8, 5, 5]);
  assert.deepEqual(tensorInts(init.get("C3.channel_pads")!), [0, 0, 0, 0, 0, 2, 0, 0]);
  const dense = tensorFloats(c3), packed = params.get("C3.weight")!;
  let e = 0;
  for (let o = 0; o < 16; o++) {
    for (let i = 0; i < 8; i++) {
      const block = dense.subarray((o * 8 + i) * 25, (o * 8 + i + 1) * 25);
      if (i < 6 && C3_TABLE[i][o]) {
        assert.deepEqual(block, Float32Array.from(packed.subarray(25 * e, 25 * ++e)), `C3 ${o}<-${i}`);
      } else assert.ok(block.every((v) => v === 0), `C3 ${o}<-${i} is not connected`);
    }
  }
  assert.equal(e, 60);
  // S2's coefficient fills each map's 2x2 kernel of a depthwise Conv.
  const s2 = tensorFloats(init.get("S2.coef")!);
  assert.deepEqual(init.get("S2.coef")!.dims, [6, 1, 2, 2]);
  params.get("S2.coef")!.forEach((c, m) => assert.ok(s2.subarray(4 * m, 4 * m + 4).every((v) => v === Math.fround(c))));
});

Deno.test("export: the writer encodes every attribute kind, negative ints and symbolic dims, and reads back", () => {
  const node = makeNode("Foo", ["x", ""], ["y"], {
    name: "n",
    attributes: {
      i: { int: -1 },
      is: { ints: [-2, 0, 2 ** 40] },
      f: { float: 0.5 },
      fs: { floats: [1.5, -2] },
      s: { string: "héllo" },
    },
  });
  const model = makeModel(
    makeGraph([node], "g", [makeValueInfo("x", DataType.FLOAT, ["batch", 3], "doc")], [
      makeValueInfo("y", DataType.INT64, []),
    ]),
    { opset: 17, irVersion: 8, producerName: "p", producerVersion: "1.2" },
  );
  assert.deepEqual(readModel(encodeModel(model)), model);
});

// ---------------------------------------------------------------- errors

Deno.test("export: a layer without a lowering, a loss without probabilities and a raw input that does not fit are refused by name", () => {
  const registry = createRegistries();
  const { lower: _lower, ...noLowering } = defaultRegistry.layers.get("tanh") as LayerPlugin;
  registry.layers.register({ ...noLowering, type: "my-tanh" });
  registry.losses.register({ ...mseRbfLoss, type: "my-loss" });
  const layers = [{ type: "full", name: "F", units: 3 }];
  const build = (extra: LayerSpec[], loss: string) =>
    buildModel({ name: "tiny", input: [4], layers: [...layers, ...extra], loss: { type: loss } }, { registry });

  assert.throws(
    () => exportOnnx(build([{ type: "my-tanh", name: "T" }], "mse-rbf")),
    (e) =>
      e instanceof GraphError &&
      /Cannot export tiny to ONNX: layer "T" \(my-tanh\) has no lowering to standard ONNX ops/.test(e.message),
  );
  const custom = build([], "my-loss");
  assert.throws(() => exportOnnx(custom), /loss "my-loss" has no probability lowering.*classify: false/);
  assert.ok(exportOnnx(custom, { classify: false }).length > 0);
  assert.throws(
    () => exportOnnx(build([], "mse-rbf"), { rawInput: "uint8" }),
    /a raw-image input needs a model input of one grey-level map \[1, H, W\].*got \[4\]/,
  );
  const maps = buildModel(
    { input: [1, 6, 6], layers: [{ type: "conv2d", maps: 2, kernel: 3 }], loss: { type: "map" } },
    {
      registry,
    },
  );
  assert.throws(() => exportOnnx(maps), /class outputs need scores of shape \[classes\], got \[2, 4, 4\]/);
});

// ---------------------------------------------------------------- images

Deno.test("export: images read from PNG (any filter, alpha, colour), PGM and idx files, with --invert", async () => {
  await withTempDir(async (dir) => {
    const grey = Uint8Array.from({ length: 6 * 5 }, (_, i) => (i * 37) % 256);
    const png = join(dir, "a.png");
    await Deno.writeFile(png, await encodePng(grey, 5, 6, 1));
    assert.deepEqual(await readImages(png), { images: grey, count: 1, rows: 6, cols: 5, format: "png" });
    assert.deepEqual((await readImages(png, { invert: true })).images, grey.map((g) => 255 - g));
    const rgb = new Uint8Array(30 * 3).map((_, i) => grey[Math.floor(i / 3)]);
    await Deno.writeFile(png, await encodePng(rgb, 5, 6, 3));
    assert.deepEqual((await readImages(png)).images, grey);

    // Grey + alpha, every row with another filter (None, Sub, Up, Average, Paeth, None).
    const ga = new Uint8Array(30 * 2).map((_, i) => (i % 2 ? (i * 53) % 256 : grey[i >> 1]));
    const raw = new Uint8Array(6 * 11);
    const at = (y: number, x: number) => (y < 0 || x < 0 ? 0 : ga[y * 10 + x]);
    for (let y = 0; y < 6; y++) {
      const f = y % 5;
      raw[y * 11] = f;
      for (let x = 0; x < 10; x++) {
        const a = at(y, x - 2), b = at(y - 1, x), c = at(y - 1, x - 2);
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        const pred = [0, a, b, (a + b) >> 1, paeth][f];
        raw[y * 11 + 1 + x] = (at(y, x) - pred) & 0xff;
      }
    }
    await Deno.writeFile(png, await pngOf(raw, 5, 6, 4));
    const composed = grey.map((g, i) => Math.round((g * ga[2 * i + 1]) / 255));
    assert.deepEqual((await readImages(png)).images, composed);

    const pgm = join(dir, "a.pgm");
    await Deno.writeFile(pgm, new Uint8Array([...new TextEncoder().encode("P5\n# made here\n5 6\n255\n"), ...grey]));
    assert.deepEqual(await readImages(pgm), { images: grey, count: 1, rows: 6, cols: 5, format: "pgm" });
    const text = new TextEncoder().encode(
      `P2 5 6 1000\n${Array.from(grey, (g) => Math.round(g * 1000 / 255)).join(" ")}\n`,
    );
    assert.deepEqual(decodePgm(text, "t.pgm").images, grey);

    const idx = join(dir, "a.idx");
    await Deno.writeFile(idx, new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 5, ...grey]));
    assert.deepEqual(await readImages(idx), { images: grey, count: 2, rows: 3, cols: 5, format: "idx" });
    await Deno.writeFile(idx, new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]));
    await assert.rejects(() => readImages(idx), /idx file holds float32 \[1\], expected uint8 images/);
    await assert.rejects(() => readImages(join(dir, "none.png")), /Cannot read images ".*none.png": no such file/);
    await Deno.writeTextFile(idx, "# a text file");
    await assert.rejects(() => readImages(idx), /".*a\.idx": it is not an idx, PGM \(P2, P5\), PNG or JPEG file/);
  }, "lenet5-images-");
});

/** A PNG of already filtered rows (the reader checks no CRC, so they are left zero). */
async function pngOf(filtered: Uint8Array, width: number, height: number, colour: number): Promise<Uint8Array> {
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    new DataView(out.buffer).setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    return [...out];
  };
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header[8] = 8;
  header[9] = colour;
  const stream = new Blob([filtered as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("deflate"));
  const idat = new Uint8Array(await new Response(stream).arrayBuffer());
  return new Uint8Array([
    ...[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    ...chunk("IHDR", header),
    ...chunk("IDAT", idat),
    ...chunk("IEND", new Uint8Array(0)),
  ]);
}

// ---------------------------------------------------------------- commands

/** `deno task export` or `deno task predict`, with the task's own permissions. */
const run = (command: "export" | "predict", ...args: string[]) => task(command, ...args);

Deno.test("export: deno task export writes the model's file and deno task predict runs it on idx, PGM and PNG images", async () => {
  const model = await trained("lenet5-modern");
  const { test } = await data();
  await withTempDir(async (dir) => {
    await saveModel(join(dir, "model.json"), model);
    const onnx = join(dir, "m.onnx"), raw = join(dir, "raw.onnx");
    const e1 = await run("export", "--model", dir, "--out", onnx);
    assert.equal(e1.code, 0, e1.stderr);
    assert.match(e1.stdout, /Wrote .*m\.onnx .* opset 17.*\n {2}input: {3}input float32 \[N, 1, 32, 32\]/);
    assert.deepEqual(await Deno.readFile(onnx), exportOnnx(model));
    const e2 = await run("export", "--model", join(dir, "model.json"), "--out", raw, "--raw-input");
    assert.equal(e2.code, 0, e2.stderr);
    assert.match(e2.stdout, /input: {3}image uint8 \[N, 28, 28\]/);
    assert.deepEqual(await Deno.readFile(raw), exportOnnx(model, { rawInput: "uint8" }));

    // 20 test images and their labels as idx files.
    const n = 20;
    const images = test.images.slice(0, n * 784);
    const idx = join(dir, "images.idx"), labels = join(dir, "labels.idx");
    await Deno.writeFile(idx, new Uint8Array([0, 0, 8, 3, 0, 0, 0, n, 0, 0, 0, 28, 0, 0, 0, 28, ...images]));
    await Deno.writeFile(labels, new Uint8Array([0, 0, 8, 1, 0, 0, 0, n, ...test.labels.subarray(0, n)]));
    model.forward(preprocess(images, n, 28, 28), n);
    const expected = Array.from(model.predictions());
    const wrong = expected.filter((c, i) => c !== test.labels[i]).length;
    for (const file of [onnx, raw]) {
      const p = await run("predict", "--model", file, "--input", idx, "--json");
      assert.equal(p.code, 0, p.stderr);
      const got = JSON.parse(p.stdout);
      assert.deepEqual(got.predictions.map((x: { class: number }) => x.class), expected);
      const t = await run("predict", "--model", file, "--input", idx, "--labels", labels, "--limit", "5");
      assert.equal(t.code, 0, t.stderr);
      assert.match(t.stdout, new RegExp(`\\n {4}4 {6}${expected[4]} {7}[01]\\.\\d{4} {6}${test.labels[4]}`));
      const all = await run("predict", "--model", file, "--input", idx, "--labels", labels);
      assert.match(all.stdout, new RegExp(`error ${(100 * wrong / n).toFixed(2)}% \\(${wrong} of ${n}\\)`));
    }

    // One image as PGM, and as a PNG of dark ink on white read with --invert.
    const one = images.subarray(3 * 784, 4 * 784);
    const pgm = join(dir, "digit.pgm"), png = join(dir, "digit.png");
    await Deno.writeFile(pgm, new Uint8Array([...new TextEncoder().encode("P5 28 28 255\n"), ...one]));
    await Deno.writeFile(png, await encodePng(one.map((g) => 255 - g), 28, 28, 1));
    for (const args of [["--input", pgm], ["--input", png, "--invert"]]) {
      const p = await run("predict", "--model", raw, ...args, "--json");
      assert.equal(p.code, 0, p.stderr);
      assert.equal(JSON.parse(p.stdout).predictions[0].class, expected[3]);
    }

    // Errors name the option or the file.
    const bad = [
      [await run("export", "--model", dir), 2, /Option --out is required/],
      [await run("export", "--model", dir, "--out", onnx, "--raw-type", "uint8"), 2, /--raw-type needs --raw-input/],
      [
        await run("export", "--model", dir, "--out", onnx, "--raw-input", "--raw-type", "int8"),
        2,
        /uint8 or float32, got "int8"/,
      ],
      [
        await run("export", "--model", join(dir, "none.json"), "--out", join(dir, "new.onnx")),
        1,
        /Cannot read ".*none\.json": no such file/,
      ],
      [
        await run("export", "--model", dir, "--out", join(dir, "no", "m.onnx")),
        1,
        /Cannot write ".*m\.onnx": its folder does not exist/,
      ],
      [await run("export", "--model", dir, "--out", onnx), 2, /Option --out: ".*\.onnx" exists already; pass --force/],
      [await run("export", "--model", dir, "--out", dir), 2, /Option --out: ".*" is a folder/],
      [await run("predict", "--model", onnx), 2, /Option --input is required/],
      [await run("predict", "--model", onnx, "--input", idx, "--limit", "0"), 2, /--limit must be an integer >= 1/],
      [await run("predict", "--model", idx, "--input", idx), 1, /Cannot load ONNX model ".*images\.idx"/],
      [
        await run("predict", "--model", onnx, "--input", labels),
        1,
        /idx file holds uint8 \[20\], expected uint8 images/,
      ],
    ] as const;
    for (const [result, code, message] of bad) {
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, message);
    }
    // --force overwrites; the temporary file an export killed while writing left beside it is removed.
    const stale = `${onnx}.tmp-99999-1700000000000`;
    await Deno.writeTextFile(stale, "half an onnx file");
    const before = await Deno.readFile(onnx);
    const forced = await run("export", "--model", dir, "--out", onnx, "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(await Deno.readFile(onnx), before);
    await assert.rejects(Deno.stat(stale), Deno.errors.NotFound);
    await Deno.writeFile(pgm, new Uint8Array([...new TextEncoder().encode("P5 20 20 255\n"), ...one.subarray(0, 400)]));
    // A picture of another size is made MNIST-like first; as it is (--as-is) it must be 28x28.
    const small = await run("predict", "--model", raw, "--input", pgm, "--as-is");
    assert.match(small.stderr, /"[^"]*digit\.pgm" holds 20x20 images, the model takes 28x28/);
    const made = await run("predict", "--model", raw, "--input", pgm, "--verbose", "--json");
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stderr, /predict: 20x20 pgm image, ink \d+x\d+ at \d+,\d+ scaled into 20x20/);
    const help = await run("predict", "--help");
    assert.match(help.stdout, /^Usage: deno task predict --model FILE\.onnx --input FILE/);
  }, "lenet5-cli-");
});

Deno.test("export: with intermediates, every layer's output but the last is a named output equal to the engine's", async () => {
  const model = await trained("lenet5");
  const { test } = await data();
  const n = 4;
  const images = test.images.slice(0, n * 784);
  model.forward(preprocess(images, n, 28, 28), n);
  const file = exportOnnx(model, { rawInput: "uint8", intermediates: true });
  const out = await runWeb(file, { image: { type: "uint8", dims: [n, 28, 28], data: images } });
  const names = model.layers.slice(0, -1).map((l) => intermediateName(l.name));
  assert.deepEqual(Object.keys(out).sort(), ["class", "probabilities", "scores", ...names].sort());
  model.layers.slice(0, -1).forEach((l, i) => {
    assert.deepEqual(out[intermediateName(l.name)].dims, [n, ...l.outShape], l.name);
    assertClose(out[intermediateName(l.name)].data, model.activation(i), { rel: 1e-4, abs: 1e-4 }, l.name);
  });
  // The default export is unchanged by the option's existence: three outputs.
  assert.deepEqual(readModel(exportOnnx(model)).graph.outputs.map((o) => o.name), ["scores", "probabilities", "class"]);
});
