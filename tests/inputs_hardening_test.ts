/**
 * Inputs that gave confident answers or took the commands down (issue 26,
 * items 4-8 and 10's binary errors), each run as a user runs it, through
 * `deno task` with the task's own permissions: devices and FIFOs in place of
 * files, binary files where JSON is read, `predict --save-input`, pictures
 * with no ink, labels that are not the images', models whose outputs
 * overflow or whose classes do not cover the labels, graphs with nothing to
 * train, batches too large for memory, and tampered checkpoints.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { mnistPackageDir } from "../data/mnist.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { base64ToFloats, floatsToBase64, saveModel } from "../engine/model_file.ts";
import { exportOnnx } from "../export/onnx.ts";
import { readImages } from "../data/images.ts";
import { PRESETS } from "../presets/presets.ts";
import { encodePng } from "../report/png.ts";
import { lineChart } from "../report/svg.ts";
import { compress, idxFile, png, withTempDir, writeMnistFolder } from "./_files.ts";
import { failed, resultOf, run as runProgram, spawnTask, type TaskResult } from "./_task.ts";

/** Longest a command may run here before the test calls it a hang (a guard, not a measurement). */
const HANG_MS = 120_000;

/** The processes `pid` started, and theirs (from /proc), deepest first. */
async function descendants(pid: number): Promise<number[]> {
  const text = await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`).catch(() => "");
  const children = text.split(" ").filter(Boolean).map(Number);
  return [...(await Promise.all(children.map(descendants))).flat(), ...children];
}

/**
 * `deno task NAME ARGS` raced against HANG_MS: a command that hangs (on a
 * FIFO, say) or keeps reading (a device) is killed, with the `deno run` it
 * started, by their ids, and the test fails instead of stalling.
 */
async function run(name: string, ...args: string[]): Promise<TaskResult> {
  const child = spawnTask(name, ...args);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<"hang">((resolve) => timer = setTimeout(() => resolve("hang"), HANG_MS));
  const done = child.output();
  const first = await Promise.race([done, hang]);
  clearTimeout(timer);
  if (first === "hang") {
    for (const pid of [...await descendants(child.pid), child.pid]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone already */ }
    }
    await done;
    assert.fail(`deno task ${name} ${args.join(" ")}: still running after ${HANG_MS / 1000} s, killed`);
  }
  return resultOf(first);
}

const lenet5 = () => buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });

/** A 28x28 digit: a vertical bar of ink, `x` pixels from the left, on a black ground. */
function bar(x = 13): Uint8Array {
  const image = new Uint8Array(28 * 28);
  for (let y = 5; y < 23; y++) for (let dx = 0; dx < 3; dx++) image[y * 28 + x + dx] = 255;
  return image;
}

/** An idx file of 28x28 images. */
const idxImages = (...images: Uint8Array[]) =>
  idxFile(8, [images.length, 28, 28], Uint8Array.from(images.flatMap((i) => Array.from(i))));

/** A grey PNG of `width` x `height` pixels, every pixel `level`. */
const flatPng = (width: number, height: number, level: number) =>
  encodePng(new Uint8Array(width * height).fill(level), width, height, 1);

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("inputs: devices and FIFOs are refused at once by every reader, never read, never waited on", async () => {
  await withTempDir(async (dir) => {
    const fifo = join(dir, "fifo");
    assert.equal((await runProgram("mkfifo", [fifo])).code, 0, "mkfifo");
    const onnx = join(dir, "m.onnx"), digit = join(dir, "digit.idx");
    await Deno.writeFile(onnx, exportOnnx(lenet5(), { rawInput: "uint8" }));
    await Deno.writeFile(digit, idxImages(bar()));
    const data = join(dir, "data");
    await writeMnistFolder(data, 28, 28);
    // A data folder whose test labels are a FIFO, and a run folder whose checkpoint is one.
    const fifoData = join(dir, "fifo-data"), fifoRun = join(dir, "fifo-run");
    await writeMnistFolder(fifoData, 28, 28);
    await Deno.remove(join(fifoData, "t10k-labels-idx1-ubyte"));
    await Deno.mkdir(fifoRun);
    for (const f of [join(fifoData, "t10k-labels-idx1-ubyte"), join(fifoRun, "checkpoint.json")]) {
      assert.equal((await runProgram("mkfifo", [f])).code, 0);
    }
    const model = join(dir, "model.json");
    await saveModel(model, lenet5());
    const device = /it is a character device, not a regular file/, pipe = /it is a FIFO, not a regular file/;
    const cases: [string[], RegExp][] = [
      // The issue's cases.
      [["eval", "--model", "/dev/zero"], /^error: Cannot read "\/dev\/zero": it is a character device/],
      [["predict", "--model", onnx, "--input", "/dev/zero"], /^error: Cannot read images "\/dev\/zero": .*device/],
      [["predict", "--model", "/dev/urandom", "--input", digit], /Cannot read ONNX model "\/dev\/urandom": .*device/],
      [["train", "--model", "/dev/zero", "--summary"], device],
      // A FIFO for each reader: JSON (model, graph, checkpoint), ONNX, images, labels, a data folder.
      [["eval", "--model", fifo], new RegExp(`Cannot read ".*fifo": ${pipe.source}`)],
      [["train", "--model", fifo, "--summary"], pipe],
      [["train", "--quiet", "--resume", fifoRun], new RegExp(`Cannot read ".*checkpoint\\.json": ${pipe.source}`)],
      [["predict", "--model", fifo, "--input", digit], new RegExp(`Cannot read ONNX model ".*fifo": ${pipe.source}`)],
      [["predict", "--model", onnx, "--input", fifo], new RegExp(`Cannot read images ".*fifo": ${pipe.source}`)],
      [
        ["predict", "--model", onnx, "--input", digit, "--labels", fifo],
        new RegExp(`idx file ".*fifo": ${pipe.source}`),
      ],
      [["eval", "--model", model, "--data", fifoData], /Cannot read idx file ".*t10k-labels-idx1-ubyte": it is a FIFO/],
      [["predict", "--model", onnx, "--input", "/dev/null"], /Cannot read images "\/dev\/null": .*device/],
    ];
    for (const [args, message] of cases) failed(await run(args[0], ...args.slice(1)), 1, message, args.join(" "));
    // The same readers take the same files when they are regular (the refusals are about the kind of file).
    const ok = await run("predict", "--model", onnx, "--input", digit);
    assert.equal(ok.code, 0, ok.stderr);
  });
});

Deno.test("inputs: eval on a PNG, ONNX or binary file says what the file is, and no error prints raw bytes", async () => {
  await withTempDir(async (dir) => {
    const files: [string, Uint8Array, RegExp][] = [
      ["digit.png", await flatPng(28, 28, 9), /it is a PNG image, not JSON$/],
      ["model.onnx", exportOnnx(lenet5()), /it is an ONNX model, not JSON$/],
      ["noise.bin", Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256), /it is binary data \(/],
      ["latin1.json", Uint8Array.of(0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d), /not UTF-8 text/],
      // Valid UTF-8 that JSON.parse refuses, holding DEL and a C1 control: the message escapes them.
      ["del.json", new TextEncoder().encode('{"a": 1,\n "b": \x7f\u0085 }'), /Cannot parse ".*del\.json": .*\\u007f/],
    ];
    for (const [name, bytes, message] of files) {
      const path = join(dir, name);
      await Deno.writeFile(path, bytes);
      const r = await run("eval", "--model", path);
      failed(r, 1, new RegExp(`^error: Cannot parse ".*${name.replace(".", "\\.")}": `), name);
      assert.match(r.stderr.trim(), message, name);
      // One line of printable text: no control character, no replacement character from invalid UTF-8.
      assert.doesNotMatch(r.stderr.trimEnd(), /[\p{Cc}\p{Cf}\uFFFD]/u, `${name}: ${JSON.stringify(r.stderr)}`);
    }
  });
});

Deno.test("inputs: predict --save-input works under the predict task's permissions and writes the image the model saw", async () => {
  await withTempDir(async (dir) => {
    const onnx = join(dir, "m.onnx"), digits = join(dir, "digits.idx");
    await Deno.writeFile(onnx, exportOnnx(lenet5(), { rawInput: "uint8" }));
    await Deno.writeFile(digits, idxImages(bar(9), bar(16)));
    const saved = join(dir, "saw.png");
    const r = await run("predict", "--model", onnx, "--input", digits, "--save-input", saved, "--verbose");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the 28x28 input the model saw \(first image\) written to .*saw\.png/);
    const back = await readImages(saved);
    assert.equal(back.format, "png");
    assert.deepEqual([back.count, back.rows, back.cols], [1, 28, 28]);
    assert.deepEqual(back.images, bar(9), "the first idx image, as it is");
    // A picture is saved as the model saw it: made MNIST-like (ink scaled into 20x20 and centred in 28x28).
    const big = new Uint8Array(100 * 300).fill(255);
    for (let y = 50; y < 250; y++) for (let x = 45; x < 55; x++) big[y * 100 + x] = 0;
    await Deno.writeFile(join(dir, "bar.png"), await encodePng(big, 100, 300, 1));
    const p = await run("predict", "--model", onnx, "--input", join(dir, "bar.png"), "--save-input", saved);
    assert.equal(p.code, 0, p.stderr);
    const seen = (await readImages(saved)).images;
    const rows = Array.from({ length: 28 }, (_, y) => seen.subarray(y * 28, y * 28 + 28).some((v) => v > 0));
    assert.equal(rows.filter(Boolean).length, 20, "the bar is 20 rows high");
    assert.equal(seen[14 * 28 + 14], 255, "ink at the centre");
  });
});

Deno.test("inputs: predict refuses a picture with no ink instead of answering with confidence", async () => {
  await withTempDir(async (dir) => {
    const onnx = join(dir, "m.onnx");
    await Deno.writeFile(onnx, exportOnnx(lenet5(), { rawInput: "uint8" }));
    const light = new Uint8Array(64 * 64).fill(200);
    light[32 * 64 + 32] = 230; // lighter than its light ground: no ink, though not one grey level
    const transparent = png(40, 30, 8, 6, [await compress("deflate", new Uint8Array(0), 30 * (1 + 40 * 4))]);
    const pictures: [string, Uint8Array | Promise<Uint8Array>, string[], RegExp][] = [
      ["allwhite.png", flatPng(64, 64, 255), [], /every pixel is grey level 255 \(64x64 pixels\)$/],
      ["transparent.png", transparent, [], /every pixel is grey level 0 \(40x30 pixels\)$/],
      ["one-pixel.png", flatPng(1, 1, 40), [], /every pixel is grey level 40 \(1x1 pixels\)$/],
      ["grey.png", flatPng(50, 70, 128), [], /every pixel is grey level 128 \(50x70 pixels\)$/],
      ["as-is.png", flatPng(28, 28, 90), ["--as-is"], /every pixel is grey level 90 \(28x28 pixels\)$/],
      ["light.png", encodePng(light, 64, 64, 1), [], /no pixel stands out from its light background$/],
    ];
    for (const [name, bytes, flags, message] of pictures) {
      await Deno.writeFile(join(dir, name), await bytes);
      const r = await run("predict", "--model", onnx, "--input", join(dir, name), ...flags);
      failed(r, 1, new RegExp(`^error: Cannot predict: ".*${name.replace(".", "\\.")}" holds no ink: `), name);
      assert.match(r.stderr.trim(), message, name);
      assert.equal(r.stdout, "", `${name}: no answer printed`);
    }
    // An idx file with a blank image among digits: the blank one is named by its index.
    await Deno.writeFile(join(dir, "three.idx"), idxImages(bar(), new Uint8Array(784).fill(3), bar(5)));
    const idx = await run("predict", "--model", onnx, "--input", join(dir, "three.idx"));
    failed(
      idx,
      1,
      /^error: Cannot predict: image 1 of ".*three\.idx" holds no ink: every pixel is grey level 3$/m,
      "idx",
    );
    // --limit 1 looks at the first image only, which has ink.
    const first = await run("predict", "--model", onnx, "--input", join(dir, "three.idx"), "--limit", "1");
    assert.equal(first.code, 0, first.stderr);
  });
});

Deno.test("inputs: predict --labels must hold one label per image, or it says both counts and both files", async () => {
  await withTempDir(async (dir) => {
    const onnx = join(dir, "m.onnx"), images = join(dir, "three.idx");
    await Deno.writeFile(onnx, exportOnnx(lenet5(), { rawInput: "uint8" }));
    await Deno.writeFile(images, idxImages(bar(8), bar(12), bar(16)));
    for (const n of [2, 5]) {
      const labels = join(dir, `labels${n}.idx`);
      await Deno.writeFile(labels, idxFile(8, [n], new Uint8Array(n).fill(1)));
      const r = await run("predict", "--model", onnx, "--input", images, "--labels", labels);
      failed(
        r,
        1,
        new RegExp(
          `^error: Cannot use labels ".*labels${n}\\.idx": it holds ${n} labels, but ".*three\\.idx" holds 3 images`,
        ),
        `${n} labels`,
      );
    }
    const labels = join(dir, "labels3.idx");
    await Deno.writeFile(labels, idxFile(8, [3], Uint8Array.of(1, 1, 7)));
    const ok = await run("predict", "--model", onnx, "--input", images, "--labels", labels);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /error [\d.]+% \(\d of 3\)/);
    // The issue's case: MNIST's training labels on its test images.
    const mnist = await mnistPackageDir();
    const testImages = join(mnist, "t10k-images-idx3-ubyte"), trainLabels = join(mnist, "train-labels-idx1-ubyte");
    const r = await run("predict", "--model", onnx, "--input", testImages, "--labels", trainLabels);
    const mismatch =
      /Cannot use labels ".*train-labels-idx1-ubyte": it holds 60,000 labels, but ".*t10k-images-idx3-ubyte" holds 10,000 images/;
    failed(r, 1, mismatch, "MNIST");
  });
});

Deno.test("inputs: a model whose outputs overflow is refused by eval, export and predict; export writes nothing", async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "data");
    await writeMnistFolder(data, 28, 28);
    const model = lenet5();
    model.params.fill(3e38); // finite weights, infinite scores
    const file = join(dir, "overflow.json");
    await saveModel(file, model);
    const e = await run("eval", "--model", file, "--data", data);
    const evalMessage =
      /^error: Cannot evaluate the model: its score for class \d of image 0 of ".*t10k-images-idx3-ubyte" is (Infinity|-Infinity|NaN)/;
    failed(e, 1, evalMessage, "eval");
    const out = join(dir, "overflow.onnx");
    const x = await run("export", "--model", file, "--out", out);
    failed(
      x,
      1,
      /^error: Cannot export ".*overflow\.json": its score for class \d on a blank image is (-?Infinity|NaN)/,
      "export",
    );
    assert.equal(await exists(out), false, "export wrote nothing");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), ["data", "overflow.json"]);
    // The same weights exported elsewhere: predict refuses the answers.
    await Deno.writeFile(out, exportOnnx(model, { rawInput: "uint8" }));
    await Deno.writeFile(join(dir, "digit.idx"), idxImages(bar()));
    const p = await run("predict", "--model", out, "--input", join(dir, "digit.idx"));
    failed(
      p,
      1,
      /^error: Cannot trust ONNX model ".*overflow\.onnx": its (score|probability) \d for image 0 is /,
      "predict",
    );
    // A sound model passes all three.
    await saveModel(file, lenet5());
    assert.equal((await run("eval", "--model", file, "--data", data)).code, 0);
    const good = await run("export", "--model", file, "--out", join(dir, "good.onnx"));
    assert.equal(good.code, 0, good.stderr);
  });
});

Deno.test("inputs: a 5-class model on 10 digits, an empty layer list and a graph with nothing to train are refused", async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "data");
    await writeMnistFolder(data, 28, 28);
    const graph = (layers: unknown[]): GraphSpec =>
      ({ input: [1, 32, 32], layers, loss: { type: "softmax-cross-entropy" } }) as GraphSpec;
    const five = join(dir, "five.json");
    const fiveClasses = graph([{ type: "flatten" }, { type: "full", units: 5 }]);
    await saveModel(five, buildModel(fiveClasses, { registry: defaultRegistry }));
    // writeMnistFolder labels pattern i with i % 10: image 5 is the first the model has no class for.
    const e = await run("eval", "--model", five, "--data", data);
    const unlabelled =
      /^error: Cannot use the test images ".*t10k-images-idx3-ubyte": image 5 is labelled 5, but the model has 5 classes \(0\.\.4\)$/m;
    failed(e, 1, unlabelled, "eval");
    const t = await run("train", "--quiet", "--model", five, "--data", data, "--out", join(dir, "run5"));
    failed(t, 1, /Cannot use the training images ".*train-images-idx3-ubyte": image 5 is labelled 5/, "train");

    const empty = join(dir, "empty.json");
    await Deno.writeTextFile(empty, JSON.stringify(graph([])));
    for (const args of [["--summary"], ["--data", data, "--out", join(dir, "run-empty")]]) {
      const r = await run("train", "--quiet", "--model", empty, ...args);
      failed(r, 1, /Cannot build graph: field "layers" must list at least one layer, got \[\]/, args.join(" "));
    }
    const fixed = join(dir, "fixed.json");
    await Deno.writeTextFile(fixed, JSON.stringify(graph([{ type: "flatten" }, { type: "relu" }])));
    const f = await run("train", "--quiet", "--model", fixed, "--data", data, "--out", join(dir, "run-fixed"));
    failed(f, 1, /^error: Cannot train the model: it has no trainable parameters/m, "fixed");
    assert.doesNotMatch(f.stdout, /pass 1:/);
  });
});

Deno.test("inputs: --batch too large for memory fails at once naming the option", async () => {
  for (
    const [args, message] of [
      [
        ["--batch", "100000000"],
        /^error: Option --batch must be an integer in 1\.\.[\d,]+ for this model \(a batch of 100,000,000 needs [\d,]+ MiB of activation buffers, over the limit of 1,024 MiB, MAX_BUFFER_BYTES\), got "100000000"/,
      ],
      [
        ["--preset", "lenet5-modern", "--batch", "1e9"],
        /^error: Option --batch must be an integer in 1\.\.[\d,]+ for this model \(a batch of 1,000,000,000/,
      ],
      [["--batch", "0"], /^error: Option --batch must be an integer >= 1, got "0"/],
    ] as [string[], RegExp][]
  ) {
    const r = await run("train", ...args, "--out", "/nonexistent/never");
    failed(r, 2, message, args.join(" "));
    assert.doesNotMatch(r.stderr, /allocation failed/);
  }
});

Deno.test("inputs: a tampered checkpoint fails at --resume before any pass, naming the field, and is left byte for byte", async () => {
  await withTempDir(async (dir) => {
    // A real run of one pass: lenet5 (SDLM, kept h_kk) on 2,000 patterns, so its loss curve holds points.
    const data = join(dir, "data"), runDir = join(dir, "run");
    await writeMnistFolder(data, 28, 28, 2000, 10);
    const first = await run("train", "--quiet", "--data", data, "--epochs", "1", "--out", runDir);
    assert.equal(first.code, 0, first.stderr);
    const path = join(runDir, "checkpoint.json");
    const original = await Deno.readTextFile(path);
    const checkpoint = JSON.parse(original);
    assert.equal(checkpoint.fit.lossCurve.length, 2, "a point per 1,000 patterns");
    const others = ["model.json", "summary.json", "index.html"];
    const before = await Promise.all(others.map((f) => Deno.readFile(join(runDir, f))));

    const { floats, count } = checkpoint.optimizerState.curvature;
    const curvature = base64ToFloats(floats, count, "the kept h_kk");
    curvature[5] = -1e30;
    const tamper = (change: (c: typeof checkpoint) => void) => {
      const c = structuredClone(checkpoint);
      change(c);
      return c;
    };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      [
        "deviations abc",
        tamper((c) => c.settings.deviations = "abc"),
        /field "settings\.deviations" must be a list of at most 5 deviations \(.*\), got "abc"/,
      ],
      [
        "deviations [{setting: 5}]",
        tamper((c) => c.settings.deviations = [{ setting: 5 }]),
        /field "settings\.deviations\[0\]\.setting" must be one of init, subsampleInit, j, mu, curvatureMemory, got 5/,
      ],
      ["history [{}]", tamper((c) => c.fit.history = [{}]), /field "fit\.history\[0\]\.pass" must be 1 \(its place/],
      [
        "history testError 1.5",
        tamper((c) => c.fit.history[0].testError = 1.5),
        /field "fit\.history\[0\]\.testError" must be a fraction in 0\.\.1, got 1\.5/,
      ],
      [
        "lossCurve [{}]",
        tamper((c) => c.fit.lossCurve = [{}]),
        /field "fit\.lossCurve\[0\]\.patterns" must be an integer in 1000\.\.[\d]+, got undefined/,
      ],
      [
        "lossCurve of 200,000 points",
        tamper((c) =>
          c.fit.lossCurve = Array.from({ length: 200_000 }, (_, i) => ({ patterns: 1000 * (i + 1), loss: 1 }))
        ),
        /field "fit\.lossCurve" must be a list of at most 1,369 points \(one per 1,000 patterns or more, .*\); it holds 200,000/,
      ],
      [
        "curvature -1e30",
        tamper((c) => c.optimizerState.curvature.floats = floatsToBase64(curvature)),
        /field "optimizerState\.curvature\[5\]" must be a number >= 0 \(SDLM's kept h_kk\), got -1\.0000000150474662e\+30/,
      ],
      [
        "batch 1e9",
        tamper((c) => c.settings.batch = 1e9),
        /field "settings\.batch" must be an integer in 1\.\.[\d,]+ for this model \(a batch of 1,000,000,000 needs .*\), got 1000000000/,
      ],
      [
        "threads 65",
        tamper((c) => c.settings.threads = 65),
        /field "settings\.threads" must be an integer in 1\.\.64, got 65/,
      ],
      [
        "curvatureLoss hinge",
        tamper((c) => c.settings.curvatureLoss = "hinge"),
        /field "settings\.curvatureLoss" must be one of map, mse-rbf, softmax-cross-entropy, got "hinge"/,
      ],
    ];
    for (const [what, data, message] of cases) {
      const text = JSON.stringify(data);
      await Deno.writeTextFile(path, text);
      const r = await run("train", "--quiet", "--resume", runDir, "--epochs", "2");
      failed(r, 1, new RegExp(`^error: Cannot resume from ".*checkpoint\\.json": ${message.source}`), what);
      assert.doesNotMatch(r.stdout, /pass 2:/, `${what}: no pass trained`);
      assert.equal(await Deno.readTextFile(path), text, `${what}: checkpoint.json untouched`);
      assert.deepEqual(await Promise.all(others.map((f) => Deno.readFile(join(runDir, f)))), before, what);
    }
    // The checkpoint as written resumes and trains pass 2.
    await Deno.writeTextFile(path, original);
    const resumed = await run("train", "--quiet", "--resume", runDir, "--epochs", "2");
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /pass 2:/);
  });
});

Deno.test("inputs: a chart of a 300,000-point series is drawn without overflowing the stack", () => {
  const points = Array.from({ length: 300_000 }, (_, i): [number, number] => [i / 1000, 1 / (1 + i)]);
  const options = { title: "t", xLabel: "pass", yLabel: "loss", logY: true };
  const svg = lineChart([{ name: "running loss", color: "#000", points }], options);
  assert.match(svg, /^<svg /);
  const path = svg.match(/<path class="line" d="([^"]*)"/)?.[1] ?? "";
  assert.equal(path.split("L").length, points.length, "every point drawn");
});
