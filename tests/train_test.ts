/**
 * Training on the real MNIST through the same code path as `deno task train`
 * (the command run in a subprocess), and resume.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { deno, spawnDeno } from "./_task.ts";
import { withTempDir } from "./_files.ts";

const TRAIN = fileURLToPath(new URL("../cli/train.ts", import.meta.url));

async function train(...args: string[]) {
  const out = await deno(["run", "--allow-read", "--allow-write", TRAIN, "--quiet", ...args]);
  const text = out.stdout + out.stderr;
  assert.equal(out.code, 0, text);
  return text;
}

Deno.test("train: the default recipe on the first 6,000 patterns reaches under 10% test error in one pass", async () => {
  await withTempDir(async (dir) => {
    const log = await train("--limit", "6000", "--epochs", "1", "--out", dir);
    assert.ok(!log.includes("warning"), log);
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    assert.equal(summary.passes.length, 1);
    const p = summary.passes[0];
    assert.equal(p.pass, 1);
    assert.ok(p.testError < 0.1, `test error ${p.testError}`);
    assert.ok(p.trainError < 0.1 && p.loss > 0 && p.seconds > 0 && p.evalSeconds > 0);
    // The recipe's departures from the paper, in summary.json and on the run's page.
    const deviations = ["init", "subsampleInit", "curvatureMemory", "j"];
    assert.deepEqual(summary.deviations.map((d: { setting: string }) => d.setting), deviations);
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.match(html, /<td>init<\/td><td>weights uniform in \+-2\.4\/F_i \(appendix A\)<\/td>/);
    // The per-digit table: ten rows whose F1 scores are those of metrics.txt.
    const f1 = html.slice(html.indexOf('<table class="f1">'));
    const rows = [
      ...f1.slice(0, f1.indexOf("</tbody>")).matchAll(
        /<tr><td>(\d)<\/td><td>[^<]*<\/td><td>[^<]*<\/td><td>([^<]*)<\/td>/g,
      ),
    ];
    assert.deepEqual(rows.map((r) => Number(r[1])), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const metricsText = await Deno.readTextFile(join(dir, "metrics.txt"));
    for (const [, c, score] of rows) {
      assert.match(metricsText, new RegExp(`^ +${c} .* ${score} +\\d+$`, "m"), `F1 of ${c}`);
    }
    assert.match(f1, new RegExp(`<th>macro</th><td></td><td></td><td>${summary.macroF1.toFixed(4)}</td>`));
    // The gallery: the worst 100 of the misclassified test digits (all of them when fewer).
    const wrong = Math.round(p.testError * 10000);
    const gallery = await Deno.readTextFile(join(dir, "misclassified.svg"));
    assert.equal(gallery.split('<g class="digit"').length - 1, Math.min(100, wrong));
    assert.ok(gallery.includes(wrong > 100 ? `the 100 worst of ${wrong.toLocaleString("en-US")}` : `all ${wrong}`));
    assert.ok(html.includes('<img src="misclassified.svg"'));
    // The recipe, every setting (the schedule among them), SDLM's steps per pass, the wall time; no warnings.
    assert.match(html, /<pre>recipe: sdlm \(mu 0\.02\), eta 0\.0005x2 0\.0002x3/);
    assert.match(
      html,
      /<tr><td>eta schedule[^<]*<\/td><td>0\.0005x2 0\.0002x3 0\.0001x3 0\.00005x4 0\.00001<\/td><\/tr>/,
    );
    assert.match(html, /<tr><td>training patterns<\/td><td>the first 6000<\/td><\/tr>/);
    assert.match(html, /<tr><td>1<\/td><td>0\.0005<\/td><td>\d\.\d\de-\d \.\. \d\.\d\de-\d<\/td>/);
    assert.match(html, /Wall time: [\d.]+ s in all/);
    assert.ok(!html.includes('class="warnings"'));
    const files = "model.json checkpoint.json index.html loss.svg error.svg digits-before.svg digits-after.svg " +
      "confusion.svg misclassified.svg metrics.txt";
    for (const f of files.split(" ")) {
      assert.ok((await Deno.stat(join(dir, f))).size > 0, f);
    }
    assert.ok(
      !(await Array.fromAsync(Deno.readDir(dir))).some((e) => e.name.includes(".tmp-")),
      "no temporary files left",
    );
  });
});

Deno.test("train: a run that stops learning (lenet5-literal: the paper's init with its eta) is told so after the pass", async () => {
  await withTempDir(async (dir) => {
    const log = await train("--preset", "lenet5-literal", "--limit", "500", "--epochs", "1", "--out", dir);
    const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
    const error = (100 * summary.passes[0].trainError).toFixed(2);
    assert.ok(summary.passes[0].trainError > 0.855, `training error ${error}%: this run was expected to fail`);
    assert.match(log, new RegExp(`warning: after pass 1 the training error is ${error}%, no better than guessing`));
    assert.match(log, /The default recipe \(deno task train\) trains:/);
    // The warning is on the run's page too.
    const html = await Deno.readTextFile(join(dir, "index.html"));
    assert.match(
      html,
      new RegExp(
        `<div class="warnings">[^]*<p>warning: after pass 1 the training error is ${error}%, no better than guessing`,
      ),
    );
  });
});

Deno.test("train: a run stopped after pass 1 and resumed ends with the same weights as an uninterrupted 2-pass run", async () => {
  await withTempDir(async (base) => {
    const a = join(base, "a"), b = join(base, "b");
    const common = ["--limit", "300", "--init", "paper-sqrt", "--seed", "3"];
    const weights = async (dir: string) => JSON.parse(await Deno.readTextFile(join(dir, "model.json"))).params;
    await train(...common, "--epochs", "2", "--out", a);
    await train(...common, "--epochs", "1", "--out", b);
    const resumed = await train("--resume", b, "--epochs", "2");
    assert.match(resumed, /Resuming .* after pass 1 of 2/);
    assert.equal(await weights(b), await weights(a), "same weights, bit for bit");
    // Evaluating each pass on this thread before the next (--sequential) instead of on a second thread while the
    // next pass trains (the default) changes nothing that is saved.
    const e = join(base, "e");
    await train(...common, "--epochs", "2", "--sequential", "--out", e);
    assert.equal(await weights(e), await weights(a), "same weights with --sequential");
    const checkpoint = async (dir: string) => JSON.parse(await Deno.readTextFile(join(dir, "checkpoint.json")));
    const ce = await checkpoint(e), ca = await checkpoint(a);
    assert.equal(ce.params, ca.params);
    assert.deepEqual(ce.optimizerState, ca.optimizerState);
    assert.deepEqual(ce.fit.lossCurve, ca.fit.lossCurve);
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
    const out = await deno(["run", "--allow-read", "--allow-write", TRAIN, "--out", a, "--limit", "10"]);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /already holds a run; pass --resume/);
  });
});

Deno.test("train: a run killed (SIGKILL) during pass 2 and resumed ends bit-identical to an uninterrupted run", async () => {
  await withTempDir(async (base) => {
    const common = ["--limit", "4000", "--epochs", "2", "--seed", "5"];
    const whole = join(base, "whole"), killed = join(base, "killed");
    await train(...common, "--out", whole);
    // Each pass evaluated before the next starts (--sequential): pass 2 begins right after pass 1's checkpoint.
    const args = ["run", "--allow-read", "--allow-write", TRAIN, "--quiet", ...common, "--sequential", "--out", killed];
    const child = spawnDeno(args, { stdout: "null", stderr: "null" });
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    const checkpoint = join(killed, "checkpoint.json");
    while (!(await Deno.stat(checkpoint).then(() => true, () => false))) {
      assert.ok(!exited, "the run ended before its first checkpoint");
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 700)); // into pass 2's updates (4,000 patterns take about 2.5 s)
    child.kill("SIGKILL");
    assert.equal((await status).signal, "SIGKILL", "the run was still going when killed");
    const before = JSON.parse(await Deno.readTextFile(checkpoint));
    assert.equal(before.fit.passesDone, 1, "killed during pass 2");
    const log = await train("--resume", killed);
    assert.match(log, /Resuming .* after pass 1 of 2/);
    const read = async (dir: string, f: string) => JSON.parse(await Deno.readTextFile(join(dir, f)));
    assert.equal((await read(killed, "model.json")).params, (await read(whole, "model.json")).params);
    const a = await read(killed, "checkpoint.json"), b = await read(whole, "checkpoint.json");
    assert.equal(a.params, b.params, "same weights, bit for bit");
    assert.deepEqual(a.optimizerState, b.optimizerState);
    assert.deepEqual(a.fit.lossCurve, b.fit.lossCurve);
    const errors = async (dir: string) =>
      (await read(dir, "summary.json")).passes.map((p: { trainError: number; testError: number }) => [
        p.trainError,
        p.testError,
      ]);
    assert.deepEqual(await errors(killed), await errors(whole));
    assert.ok(!(await Array.fromAsync(Deno.readDir(killed))).some((e) => e.name.includes(".tmp-")));
  });
});
