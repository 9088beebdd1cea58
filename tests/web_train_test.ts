/**
 * The Train tab (issue 18) in a real Chromium (Debian's, driven by
 * playwright-core in its own process, tests/_web_train_browser.ts): the page
 * is cross-origin isolated, downloads MNIST from the server, trains lenet5 on
 * the first 300 patterns for two passes in a Web Worker on the WebAssembly
 * kernels (pass 1 evaluated on a second worker while pass 2 trains) while a
 * click on a tab shows it before training ends, and hands the model to the Draw tab.
 * Then, in Deno: the page's weights are `deno task train`'s with the same
 * seed, bit for bit; the downloaded model.json evaluates in `deno task eval`
 * to the test error the page reported, the downloaded .onnx runs in
 * onnxruntime-web; training lowered the loss on its patterns; and Pause,
 * Resume and Stop do what they say on a second run.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { preprocess } from "../data/preprocess.ts";
import { buildModel } from "../engine/model.ts";
import { type ModelFile, modelFromJSON } from "../engine/model_json.ts";
import { PRESETS } from "../presets/presets.ts";
import * as ort from "onnxruntime-web";
import { startServer } from "../web/server.ts";
import { datasetLoss } from "./_helpers.ts";
import { deno, ROOT } from "./_task.ts";

const hasChromium = await Deno.stat("/usr/bin/chromium").then(() => true, () => false);
const LIMIT = 300, SEED = 0;

async function denoOk(args: string[]): Promise<string> {
  const out = await deno(args, { cwd: ROOT });
  assert.equal(out.code, 0, `deno ${args.join(" ")}: ${out.stderr}${out.stdout}`);
  return out.stdout;
}

Deno.test({
  name:
    "web: the Train tab trains lenet5 in a worker, as deno task train does bit for bit, and the page stays responsive",
  ignore: !hasChromium,
  async fn() {
    const site = await Deno.makeTempDir({ prefix: "lenet5-web-" });
    const tmp = await Deno.makeTempDir({ prefix: "lenet5-train-tab-" });
    const server = await startServer({ port: 0, site, quiet: true });
    try {
      const browser = join(ROOT, "tests", "_web_train_browser.ts"), png = join(ROOT, "runs", "web-train.png");
      const out = await deno(["run", "-A", browser, server.url, "lenet5", String(LIMIT), String(SEED), png], {
        signal: AbortSignal.timeout(300_000),
      });
      assert.equal(out.code, 0, out.stderr);
      const r = JSON.parse(out.stdout) as {
        isolated: boolean;
        errors: string[];
        clicks: boolean[];
        result: { stopped: boolean; history: { loss: number; testError: number }[]; model: ModelFile; kernels: string };
        predictions: { class: number; model: string }[];
        drawVisible: boolean;
        trainHidden: boolean;
        drawHiddenOnTrain: boolean;
        recipe: string;
        modelJson: { name: string; bytes: number[] };
        onnx: { name: string; bytes: number[] };
        pauseResume: { pausedAt: number; stillAt: number; resumedTo: number; stopped: boolean; passes: number };
      };
      assert.deepEqual(r.errors, [], "no console errors");
      assert.ok(r.isolated, "the page is cross-origin isolated");
      assert.equal(r.result.kernels, "wasm", "the worker trains on the WebAssembly kernels");
      assert.equal(r.result.stopped, false);
      assert.deepEqual(r.clicks, [true, true, true, true], "each tab switch showed its tab while the worker trained");

      // The same weights as deno task train with the same seed and patterns.
      const run = join(tmp, "run");
      await denoOk([
        "run",
        "-A",
        "cli/train.ts",
        "--limit",
        String(LIMIT),
        "--epochs",
        "2",
        "--seed",
        String(SEED),
        "--out",
        run,
        "--quiet",
      ]);
      const cli = JSON.parse(await Deno.readTextFile(join(run, "model.json"))) as ModelFile;
      assert.equal(r.result.model.params, cli.params, "the page's weights are deno task train's, bit for bit");
      // The page shows the recipe --summary prints for the same run, from the same function.
      const summary = await denoOk(["run", "-A", "cli/train.ts", "--summary", "--epochs", "2"]);
      assert.ok(r.recipe.startsWith("recipe: sdlm (mu 0.02), eta 0.0005x2"), r.recipe);
      assert.equal(r.recipe, summary.slice(summary.indexOf("recipe: ")).trimEnd(), "the page's recipe is --summary's");

      // The downloaded model.json is the run's model, and evaluates in deno task eval to the test error the page reported.
      assert.equal(r.modelJson.name, "model.json");
      const file = join(tmp, "model.json");
      await Deno.writeFile(file, Uint8Array.from(r.modelJson.bytes));
      assert.equal(JSON.parse(await Deno.readTextFile(file)).params, r.result.model.params);
      const metrics = JSON.parse(await denoOk(["run", "--allow-read", "cli/eval.ts", "--model", file, "--json"]));
      assert.equal(r.result.history.length, 2);
      assert.equal(metrics.error, r.result.history[1].testError, "deno task eval: the page's test error");

      // Training lowered the loss on the patterns it saw, and the Draw tab reads digits with the trained model.
      const { train, test } = await loadMnist();
      const x = preprocess(train.images.subarray(0, LIMIT * 784), LIMIT, 28, 28);
      const labels = train.labels.subarray(0, LIMIT);
      const before = datasetLoss(
        buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: SEED }),
        x,
        labels,
      );
      const trained = modelFromJSON(r.result.model, defaultRegistry);
      const after = datasetLoss(trained, x, labels);
      assert.ok(after < 0.5 * before, `the loss on the ${LIMIT} patterns fell from ${before} to ${after}`);
      assert.ok(r.drawHiddenOnTrain, "the Train tab hides the Draw tab");
      assert.ok(r.drawVisible && r.trainHidden, "Use this model shows the Draw tab, and only it");
      assert.ok(r.predictions.every((p) => p.model.startsWith("trained-")), "the Draw tab runs the trained model");
      const engine = trained.forward(preprocess(test.images.subarray(0, 20 * 784), 20, 28, 28), 20);
      const classes = Array.from({ length: 20 }, (_, i) => {
        const d = Array.from(engine.subarray(i * 10, (i + 1) * 10));
        return d.indexOf(Math.min(...d));
      });
      const same = r.predictions.filter((p, i) => p.class === classes[i]).length;
      assert.ok(same >= 19, `the Draw tab's classes are the engine's on ${same} of 20 test digits`);

      // The downloaded .onnx (the page's own export) runs in onnxruntime-web and gives the engine's classes.
      assert.match(r.onnx.name, /\.onnx$/);
      const session = await ort.InferenceSession.create(Uint8Array.from(r.onnx.bytes));
      try {
        const images = test.images.slice(0, 20 * 784);
        const outputs = await session.run({ image: new ort.Tensor("uint8", images, [20, 28, 28]) });
        const onnxClasses = Array.from(outputs.class.data as BigInt64Array, Number);
        const agree = onnxClasses.filter((c, i) => c === classes[i]).length;
        assert.ok(agree >= 19, `the downloaded .onnx gives the engine's classes on ${agree} of 20 test digits`);
      } finally {
        await session.release();
      }

      // Pause holds the worker (no pattern trained in 2.5 s), Resume lets it go on, Stop ends the run mid-pass.
      const pr = r.pauseResume;
      assert.equal(pr.stillAt, pr.pausedAt, `paused at ${pr.pausedAt} patterns, ${pr.stillAt} 2.5 s later`);
      assert.ok(pr.resumedTo > pr.pausedAt, "after Resume the patterns go on");
      assert.ok(pr.stopped && pr.passes === 0, "Stop ended the run before its pass finished");
    } finally {
      await server.close();
      await Deno.remove(site, { recursive: true });
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
