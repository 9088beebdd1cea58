/**
 * Training on the real MNIST through the same code path as `deno task train`
 * (the command run in a subprocess), and resume.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const TRAIN = fileURLToPath(new URL("../cli/train.ts", import.meta.url));

async function train(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", TRAIN, "--quiet", ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  return text;
}

Deno.test("train: 3,000 patterns of real MNIST reach a test error well below chance, with the run folder written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The paper's recipe (SDLM, MAP loss, eta 0.0005) with the sqrt-scaled init, which trains stably.
    const log = await train("--limit", "3000", "--epochs", "1", "--init", "paper-sqrt", "--out", dir);
    assert.ok(!log.includes("warning"), log);
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    assert.equal(summary.passes.length, 1);
    const p = summary.passes[0];
    assert.equal(p.pass, 1);
    assert.ok(p.testError < 0.3, `test error ${p.testError} (chance is 0.9)`);
    assert.ok(p.trainError < 0.3 && p.loss > 0 && p.seconds > 0);
    for (
      const f of [
        "model.json",
        "checkpoint.json",
        "index.html",
        "loss.svg",
        "error.svg",
        "digits-before.svg",
        "digits-after.svg",
        "confusion.svg",
        "metrics.txt",
      ]
    ) {
      assert.ok((await Deno.stat(join(dir, f))).size > 0, f);
    }
    assert.ok(
      !(await Array.fromAsync(Deno.readDir(dir))).some((e) => e.name.includes(".tmp-")),
      "no temporary files left",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: a run that stops learning (the specified init with the paper's eta) is told so after the pass", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = await train("--limit", "500", "--epochs", "1", "--out", dir);
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    const error = (100 * summary.passes[0].trainError).toFixed(2);
    assert.ok(summary.passes[0].trainError > 0.855, `training error ${error}%: this run was expected to fail`);
    assert.match(log, new RegExp(`warning: after pass 1 the training error is ${error}%, no better than guessing`));
    assert.match(log, /The recipe closest to the paper: --init paper-sqrt --curvature-memory 0\.9 --j 10\./);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: a run stopped after pass 1 and resumed ends with the same weights as an uninterrupted 2-pass run", async () => {
  const base = await Deno.makeTempDir();
  try {
    const a = join(base, "a"), b = join(base, "b");
    const common = ["--limit", "300", "--init", "paper-sqrt", "--seed", "3"];
    const weights = async (dir: string) => JSON.parse(await Deno.readTextFile(join(dir, "model.json"))).params;
    await train(...common, "--epochs", "2", "--out", a);
    await train(...common, "--epochs", "1", "--out", b);
    const resumed = await train("--resume", b, "--epochs", "2");
    assert.match(resumed, /Resuming .* after pass 1 of 2/);
    assert.equal(await weights(b), await weights(a), "same weights, bit for bit");
    const sa = JSON.parse(await Deno.readTextFile(join(a, "summary.json")));
    const sb = JSON.parse(await Deno.readTextFile(join(b, "summary.json")));
    assert.deepEqual(
      sb.passes.map((p: { testError: number }) => p.testError),
      sa.passes.map((p: { testError: number }) => p.testError),
    );
    // The same with a new pattern order every pass (--shuffle) and SDLM's h_kk half kept from pass to
    // pass (--curvature-memory, which the checkpoint carries): both change the second pass.
    const c = join(base, "c"), d = join(base, "d");
    const more = ["--shuffle", "--curvature-memory", "0.5"];
    await train(...common, ...more, "--epochs", "2", "--out", c);
    await train(...common, ...more, "--epochs", "1", "--out", d);
    await train("--resume", d, "--epochs", "2");
    assert.equal(await weights(d), await weights(c), "same weights after resume with --shuffle --curvature-memory");
    assert.notEqual(await weights(c), await weights(a));
    // An existing run is never overwritten by a new one.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", TRAIN, "--out", a, "--limit", "10"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), /already holds a run; pass --resume/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
