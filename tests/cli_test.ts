/** `deno task train --summary` on presets, graph files and model files, run as a user would. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultRegistry } from "../builtins.ts";
import { buildModel } from "../engine/model.ts";
import { saveModel } from "../engine/model_file.ts";
import { PRESETS } from "../presets/presets.ts";
import { stalledWarning } from "../cli/train.ts";
import { deno, failed } from "./_task.ts";
import { withTempDir } from "./_files.ts";

const TRAIN = fileURLToPath(new URL("../cli/train.ts", import.meta.url));

const train = (...args: string[]) => deno(["run", "--allow-read", "--allow-write", TRAIN, ...args]);

Deno.test("cli: --summary prints the layer table of a preset with the paper's totals", async () => {
  const { code, stdout } = await train("--preset", "lenet5", "--summary");
  assert.equal(code, 0);
  const lines = stdout.split("\n");
  const row = (name: string) => lines.find((l) => l.startsWith(name + " "))!.split(/\s{2,}/);
  assert.deepEqual(row("C1").slice(0, 5), ["C1", "conv2d", "[6, 28, 28]", "156", "122,304"]);
  const c3 = ["C3", "conv2d", "[16, 10, 10]", "1,516", "151,600", "table: 60 of 96 map pairs, init paper-sqrt"];
  assert.deepEqual(row("C3"), c3);
  assert.deepEqual(row("OUTPUT"), ["OUTPUT", "rbf", "[10]", "840", "840"]);
  assert.deepEqual(row("total"), ["total", "60,000", "840", "340,908"]);
});

Deno.test("cli: --summary shows the recipe and each departure from the paper with the flag that undoes it", async () => {
  const undo = (text: string) => [...text.matchAll(/^\s+undo:\s+(\S+ \S+)/gm)].map((m) => m[1]);
  const d = await train("--summary");
  assert.equal(d.code, 0);
  assert.match(
    d.stdout,
    /^recipe: sdlm \(mu 0\.02\), eta 0\.0005x2 0\.0002x3 0\.0001x3 0\.00005x4 0\.00001, batch 1, 20 passes/m,
  );
  assert.match(d.stdout, /0\.9 of the last pass's h_kk kept/);
  assert.deepEqual(undo(d.stdout), [
    "--init paper",
    "--subsample-init paper-sqrt",
    "--curvature-memory 0",
    "--j 0.1",
  ]);
  assert.match(d.stdout, /^S2 +subsample .* init mean$/m);
  // --init sets every layer's init: S2 and S4 are drawn like the rest, and that departure goes.
  const drawn = await train("--summary", "--init", "paper-sqrt");
  assert.deepEqual(undo(drawn.stdout), ["--init paper", "--curvature-memory 0", "--j 0.1"]);
  assert.match(drawn.stdout, /^S2 +subsample .* init paper-sqrt$/m);
  // A flag that restores the paper's reading takes its departure off the list.
  const back = await train("--summary", "--init", "paper", "--curvature-memory", "0");
  assert.match(back.stdout, /^recipe: sdlm \(mu 0\.02\)/m);
  assert.deepEqual(undo(back.stdout), ["--j 0.1"]);
  assert.doesNotMatch(back.stdout, /h_kk kept/);
  const literal = await train("--preset", "lenet5-literal", "--summary");
  assert.match(literal.stdout, /table: 60 of 96 map pairs, init paper$/m);
  assert.doesNotMatch(literal.stdout, /paper-sqrt|h_kk kept/);
});

Deno.test("cli: --summary of a graph JSON file and of a saved model; errors name the file", async () => {
  await withTempDir(async (dir) => {
    const graphFile = join(dir, "graph.json");
    await Deno.writeTextFile(graphFile, JSON.stringify(PRESETS["lenet5-modern"].graph));
    const g = await train("--model", graphFile, "--summary");
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /^lenet5-modern: 61,706 trainable parameters/);
    const modelFile = join(dir, "model.json");
    await saveModel(modelFile, buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry }));
    const m = await train("--model", modelFile, "--summary");
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /^lenet5: 60,000 trainable parameters, 340,908 connections/);

    await Deno.writeTextFile(
      graphFile,
      JSON.stringify({ input: [1, 8, 8], layers: [{ type: "pool" }], loss: { type: "map" } }),
    );
    const bad = await train("--model", graphFile, "--summary");
    failed(bad, 1, new RegExp(`In "${graphFile}": Cannot find registered layer type "pool" for layer "pool0"`));
  });
});

Deno.test("cli: unknown options get one line and a pointer to --help; unknown presets the list", async () => {
  for (const args of [["--presett", "lenet5"], ["--epochs"], ["--quiet=3"], ["extra"]]) {
    const a = await train(...args);
    failed(a, 2, /^error: .+ \(--help lists the options\)\n$/, args.join(" "));
  }
  assert.match((await train("--presett", "lenet5")).stderr, /Unknown option '--presett'/);
  const b = await train("--preset", "lenet6", "--summary");
  failed(b, 1, /Cannot find preset "lenet6"; presets: lenet5, lenet5-literal, lenet5-modern/);
});

Deno.test("cli: bad option values name the option and what it takes", async () => {
  const cases: [string[], RegExp][] = [
    [["--schedule", "0.001,x"], /Option --schedule must be numbers > 0 separated by commas .* got "0.001,x"/],
    ...["0.001x0", "0.001x1.5", "0.001x2x3", "x2"].map((s): [string[], RegExp] => [
      ["--schedule", s],
      new RegExp(`Option --schedule .* each optionally followed by xN for N passes \\(0\\.0005x2\\), got "${s}"`),
    ]),
    [["--schedule", "0.001", "--lr", "0.1"], /Options --schedule and --lr both set the learning rate/],
    [["--optimizer", "sgd", "--eta-scale", "0.1"], /Option --eta-scale scales an eta schedule; .*--schedule/],
    [["--eta-scale=0"], /Option --eta-scale must be a number > 0, got "0"/],
    [["--epochs", "0"], /Option --epochs must be an integer >= 1, got "0"/],
    [["--epochs", "-1"], /Option --epochs must be an integer >= 1, got "-1"/],
    [["--lr", "-1"], /Option --lr must be a number > 0, got "-1"/],
    [["--seed", "-3"], /Option --seed must be an integer >= 0, got "-3"/],
    [["--lr", "-.5"], /Option --lr must be a number > 0, got "-.5"/],
    [["--threads", "0"], /Option --threads must be an integer in 1..64, got "0"/],
    [["--threads", "65"], /Option --threads must be an integer in 1..64, got "65"/],
    [["--optimizer", "adam", "--mu", "0.1"], /Option --mu is SDLM's; the optimizer here is adam/],
    [["--curvature-memory", "1.5"], /Option --curvature-memory must be a number in 0..1, got "1.5"/],
    [
      ["--optimizer", "sgd", "--curvature-memory", "1"],
      /Option --curvature-memory is SDLM's; the optimizer here is sgd/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await train(...args, "--limit", "10");
    failed(r, 2, message);
  }
});

Deno.test("cli: --schedule sets each pass's eta (ETAxN for N passes) and --eta-scale scales it", async () => {
  await withTempDir(async (base) => {
    const cases = [
      [["0.001,0.0005"], [0.001, 0.0005, 0.0005], "0.001 0.0005"],
      [["0.001,0.0005", "--eta-scale", "2"], [0.002, 0.001, 0.001], "0.002 0.001"],
      [["0.001x2,0.0005"], [0.001, 0.001, 0.0005], "0.001x2 0.0005"],
    ] as const;
    for (const [i, [extra, want, shown]] of cases.entries()) {
      const dir = join(base, `run${i}`);
      const r = await train(...["--limit", "20", "--epochs", "3", "--schedule", ...extra, "--out", dir]);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
      assert.deepEqual(summary.passes.map((p: { lr: number }) => p.lr), want);
      assert.match(r.stdout, new RegExp(`^recipe: sdlm \\(mu 0\\.02\\), eta ${shown}, batch 1, 3 passes`, "m"));
    }
  });
});

Deno.test("cli: the stalled-run warning fires at chance level or a non-finite loss, and only then", () => {
  const faithful = { graph: PRESETS["lenet5-literal"].graph, optimizer: { type: "sdlm" } };
  const modern = { graph: PRESETS["lenet5-modern"].graph, optimizer: { type: "adam" } };
  assert.equal(stalledWarning({ pass: 2, trainError: 0.84, loss: 3 }, 10, faithful), null);
  assert.match(stalledWarning({ pass: 2, trainError: 0.86, loss: 3 }, 10, faithful) ?? "", /default recipe/);
  const nan = stalledWarning({ pass: 3, trainError: 0.1, loss: NaN }, 10, modern) ?? "";
  assert.match(nan, /^warning: after pass 3 the loss is NaN: .*Smaller steps/);
  // Two classes: guessing is 50%.
  assert.equal(stalledWarning({ pass: 1, trainError: 0.4, loss: 1 }, 2, modern), null);
  assert.match(stalledWarning({ pass: 1, trainError: 0.49, loss: 1 }, 2, modern) ?? "", /guessing \(50\.00% for 2/);
});

Deno.test("cli: --version prints the version from deno.json on every command", async () => {
  const { version, name } = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  for (const command of ["train", "eval", "export", "predict"]) {
    const out = await deno([
      "run",
      "--allow-read",
      fileURLToPath(new URL(`../cli/${command}.ts`, import.meta.url)),
      "--version",
    ]);
    assert.equal(out.code, 0);
    assert.match(out.stdout, new RegExp(`^${name} ${version.replaceAll(".", "\\.")} \\(deno task ${command}`));
  }
});
