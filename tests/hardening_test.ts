/**
 * The commands as a careless or hostile user meets them (issue 13): a run
 * that diverges keeps its last good model, models that are not finite are
 * refused everywhere, data of the wrong size or none is refused, oversized
 * and compressed inputs fail fast, no user file is overwritten, and flag and
 * path mistakes get messages that name them. Each command runs as a user
 * runs it, through `deno task` (issue 26).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { buildModel } from "../engine/model.ts";
import { floatsToBase64, saveModel } from "../engine/model_file.ts";
import { exportOnnx } from "../export/onnx.ts";
import { PRESETS } from "../presets/presets.ts";
import { compress, idxFile, idxHeader, png, withTempDir, writeMnistFolder } from "./_files.ts";
import { failed, task } from "./_task.ts";

/** `deno task COMMAND ARGS`, as a user runs it, with the task's own permissions (train without its progress line). */
const run = (command: "train" | "eval" | "export" | "predict", ...args: string[]) =>
  task(command, ...(command === "train" ? ["--quiet"] : []), ...args);

const read = (path: string) => Deno.readFile(path);
const names = async (dir: string) => (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

Deno.test("hardening: a run whose loss turns NaN stops at once, exits 1 and keeps the last good model untouched", async () => {
  await withTempDir(async (base) => {
    // The command: SGD at 0.05 in pass 1 trains, at 1000 in pass 2 it diverges.
    const recipe = ["--preset", "lenet5-modern", "--optimizer", "sgd", "--schedule", "0.05,1000", "--limit", "2000"];
    const good = join(base, "good"), bad = join(base, "bad");
    assert.equal((await run("train", ...recipe, "--epochs", "1", "--out", good)).code, 0);
    const r = await run("train", ...recipe, "--epochs", "2", "--out", bad);
    const diverged =
      /^error: Training diverged in pass 2 at patterns [\d,]+-[\d,]+ of 2,000 \(update \d+\): the loss is NaN\. The last good state is the one after pass 1\. Stopped: .*model\.json and checkpoint\.json hold the model after pass 1, untouched\./;
    failed(r, 1, diverged);
    // What it kept is pass 1's model, bit for bit the model of the run that stopped there.
    assert.deepEqual(await read(join(bad, "model.json")), await read(join(good, "model.json")));
    const checkpoint = JSON.parse(await Deno.readTextFile(join(bad, "checkpoint.json")));
    assert.equal(checkpoint.fit.passesDone, 1);
    assert.ok(!(await names(bad)).some((n) => n.includes(".tmp-")), "no temporary file left");
    // Resumed, it diverges again and touches nothing.
    const before = await Promise.all(["model.json", "checkpoint.json", "summary.json"].map((f) => read(join(bad, f))));
    const again = await run("train", "--resume", bad);
    failed(again, 1, /Training diverged in pass 2 at patterns/);
    const after = await Promise.all(["model.json", "checkpoint.json", "summary.json"].map((f) => read(join(bad, f))));
    assert.deepEqual(after, before);

    // A checkpoint that holds a NaN weight, or whose fields are missing or out of range, is refused by name.
    const path = join(bad, "checkpoint.json");
    const model = buildModel(checkpoint.settings.graph, { registry: defaultRegistry });
    const params = Float32Array.from(model.params);
    params[model.layers[0].params[0].length + 1] = NaN; // the first layer's bias 1
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { ...checkpoint, params: floatsToBase64(params) },
        new RegExp(`field "params": parameter ${model.layers[0].name}\\.bias\\[1\\] .* is NaN`),
      ],
      [{ ...checkpoint, fit: null }, /field "fit" must be an object .*, got null/],
      [
        { ...checkpoint, settings: { ...checkpoint.settings, batch: 0 } },
        /field "settings\.batch" must be an integer >= 1, got 0/,
      ],
      [
        { ...checkpoint, settings: { ...checkpoint.settings, graph: null } },
        /field "settings\.graph" must be a graph object/,
      ],
      [
        { ...checkpoint, fit: { ...checkpoint.fit, passesDone: 7 } },
        /field "fit\.passesDone" must be an integer in 0\.\.2 \(settings\.passes\), got 7/,
      ],
    ];
    for (const [data, message] of cases) {
      await Deno.writeTextFile(path, JSON.stringify(data));
      const c = await run("train", "--resume", bad);
      failed(c, 1, new RegExp(`^error: Cannot resume from ".*checkpoint\\.json": ${message.source}`));
    }
  });
});

Deno.test("hardening: eval, export, predict and train --model refuse a model whose weights are not finite", async () => {
  await withTempDir(async (dir) => {
    const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 1 });
    const c3 = model.layers.findIndex((l) => l.name.toUpperCase() === "C3");
    model.layers[c3].params[0][42] = Infinity;
    const file = join(dir, "diverged.json");
    await saveModel(file, model);
    const name = model.layers[c3].name;
    const named = new RegExp(
      `Cannot load ".*diverged\\.json": parameter ${name}\\.weight\\[42\\] \\(layer "${name}", index 42\\) is Infinity`,
    );
    const commands = [["eval", "--model", file], ["export", "--model", file, "--out", join(dir, "m.onnx")]];
    for (const args of [...commands, ["train", "--model", file, "--summary"]]) {
      const r = await run(args[0] as "eval", ...args.slice(1));
      failed(r, 1, named, args.join(" "));
    }
    assert.equal(await exists(join(dir, "m.onnx")), false, "export wrote nothing");
    // An ONNX file made elsewhere from such weights (NaN on WASM, finite nonsense on WebGPU): predict refuses it.
    model.layers[c3].params[0][42] = NaN;
    await Deno.writeFile(join(dir, "nan.onnx"), exportOnnx(model, { rawInput: "uint8" }));
    await Deno.writeFile(join(dir, "digit.idx"), idxFile(8, [1, 28, 28]));
    const p = await run("predict", "--model", join(dir, "nan.onnx"), "--input", join(dir, "digit.idx"));
    failed(p, 1, /Cannot trust ONNX model ".*nan\.onnx": its initializer C3\.weight\[\d+\] is NaN/);
  });
});

Deno.test("hardening: images that are not 28x28, and data sets with no images, are refused naming the file", async () => {
  await withTempDir(async (dir) => {
    const model = join(dir, "model.json");
    await saveModel(model, buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry }));
    for (const side of [20, 64]) {
      const data = join(dir, `side${side}`), out = join(dir, `run${side}`);
      await writeMnistFolder(data, side, side);
      const t = await run("train", "--data", data, "--out", out);
      const padded = `${side + 4}x${side + 4}`;
      const sized =
        `Cannot use the training images ".*side${side}/train-images-idx3-ubyte": its images are ${side}x${side} ` +
        `\\(${padded} after the 2-pixel padding\\), but the model's input is 1x32x32 \\(28x28 images\\)`;
      failed(t, 1, new RegExp(sized));
      assert.equal(await exists(out), false, "no run folder made");
      const e = await run("eval", "--model", model, "--data", data);
      failed(e, 1, new RegExp(`Cannot use the test images ".*side${side}/t10k-images-idx3-ubyte"`));
    }
    const empty = join(dir, "empty");
    await writeMnistFolder(empty, 28, 28, 0, 10);
    const t = await run("train", "--data", empty, "--out", join(dir, "run-empty"));
    failed(t, 1, /Cannot use ".*empty\/train-images-idx3-ubyte": it holds no images \(0 of 28x28\)/);
  });
});

Deno.test("hardening: oversized graphs and compressed bombs fail at once with a message, through the commands", async () => {
  await withTempDir(async (dir) => {
    const graph = structuredClone(PRESETS.lenet5.graph) as unknown as { layers: { maps?: number }[] };
    graph.layers.find((l) => l.maps !== undefined)!.maps = 60000;
    await Deno.writeTextFile(join(dir, "big.json"), JSON.stringify(graph));
    const big = await run("train", "--model", join(dir, "big.json"), "--summary");
    failed(big, 1, /field "maps" must be an integer in 1\.\.16384 \(MAX_MAPS\), got 60000/);
    await Deno.writeTextFile(join(dir, "null.json"), "null");
    const nul = await run("train", "--model", join(dir, "null.json"), "--summary");
    failed(nul, 1, /Cannot build graph: expected an object .*, got null/);

    // 200 MB of zeros behind a 28x28 header: a PNG for predict, a gzip idx for train --data.
    const raw = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
    await Deno.writeFile(join(dir, "m.onnx"), exportOnnx(raw, { rawInput: "uint8" }));
    await Deno.writeFile(join(dir, "bomb.png"), png(28, 28, 8, 0, [await compress("deflate", new Uint8Array(0), 2e8)]));
    const p = await run("predict", "--model", join(dir, "m.onnx"), "--input", join(dir, "bomb.png"));
    failed(p, 1, /Cannot read PNG image ".*bomb\.png": image data inflates to more than the 812 bytes/);
    const data = join(dir, "data");
    await writeMnistFolder(data, 28, 28);
    await Deno.remove(join(data, "train-images-idx3-ubyte"));
    await Deno.writeFile(
      join(data, "train-images-idx3-ubyte.gz"),
      await compress("gzip", idxHeader(8, [20, 28, 28]), 2e8),
    );
    const t = await run("train", "--data", data, "--out", join(dir, "run"));
    failed(t, 1, /gzip data inflates to more than the 15696 bytes its header declares for 20 x 28 x 28/);
  });
});

Deno.test("hardening: --out never overwrites a user's files unless --force, and index.html escapes what it embeds", async () => {
  await withTempDir(async (dir) => {
    const mine = join(dir, "mine");
    await Deno.mkdir(mine);
    await Deno.writeTextFile(join(mine, "model.json"), "my own model");
    const quick = ["--limit", "10", "--steps", "1", "--epochs", "1"];
    const r = await run("train", ...quick, "--out", mine);
    failed(
      r,
      2,
      /Option --out: folder ".*mine" holds 1 file that no run of ours wrote \("model\.json"\); .* pass --force/,
    );
    assert.equal(await Deno.readTextFile(join(mine, "model.json")), "my own model");

    // A folder holding only what a run stopped before its first pass writes (and its stale temporaries) is ours.
    const early = join(dir, "early");
    await Deno.mkdir(early);
    await Deno.writeTextFile(join(early, "digits-before.svg"), "<svg/>");
    await Deno.writeTextFile(join(early, "summary.json.tmp-4242-1700000000000"), "{");
    // The model comes from a graph file whose name needs escaping in HTML.
    const graph = join(dir, `lenet <b>"&'.json`);
    await Deno.writeTextFile(graph, JSON.stringify(PRESETS.lenet5.graph));
    const ok = await run("train", ...quick, "--model", graph, "--out", early);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((await names(early)).filter((n) => n.includes(".tmp-")).length, 0);
    const html = await Deno.readTextFile(join(early, "index.html"));
    assert.ok(html.includes("lenet &lt;b&gt;&quot;&amp;&#39;.json"), "the path is escaped");
    assert.ok(!html.includes("<b>"));

    const forced = await run("train", ...quick, "--out", mine, "--force");
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok((await names(mine)).includes("checkpoint.json"));
    // A run folder of ours is refused too, and --force starts over in it.
    const again = await run("train", ...quick, "--out", mine);
    failed(again, 2, /already holds a run; pass --resume .* or --force to start over in it/);
    const over = await run("train", ...quick, "--seed", "1", "--out", mine, "--force");
    assert.equal(over.code, 0, over.stderr);
    assert.equal(JSON.parse(await Deno.readTextFile(join(mine, "checkpoint.json"))).settings.seed, 1);
  });
});

Deno.test("hardening: flag and path mistakes name the flag or the path, before any data is read or folder made", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x");
    const out = join(dir, "never");
    const cases: [string[], number, RegExp][] = [
      [["--out", file], 2, /Option --out: ".*a-file" is a file, not a folder/],
      [["--out", join(file, "run")], 2, /Option --out: cannot use ".*a-file\/run": a part of the path is a file/],
      [["--model", dir], 1, /Cannot read ".*lenet5-test-[^"]*": it is a folder, not a file/],
      [["--data", file, "--out", out], 1, /Cannot use data folder ".*a-file": it is a file, not a folder/],
      [["--resume", file], 2, /Option --resume: ".*a-file" is a file, not a run folder/],
      [["--resume", dir, "--lr", "0.1", "--seed", "2"], 2, /--lr, --seed would change it/],
      [["--threads", "0", "--out", out], 2, /Option --threads must be an integer in 1\.\.64, got "0"/],
      [["--epochs", "-1", "--out", out], 2, /Option --epochs must be an integer >= 1, got "-1"/],
    ];
    for (const [args, code, message] of cases) {
      const r = await run("train", ...args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(" "));
      assert.doesNotMatch(r.stderr, /os error/);
    }
    assert.equal(await exists(out), false, "no folder made");
  });
});
