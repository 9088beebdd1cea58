/**
 * Boosting (engine/boost.ts, `deno task boost`): the filtered training sets
 * hold what the paper says they hold, checked by classifying them again
 * here; the three nets' sum on the test set, computed here from the saved
 * nets; and the one ONNX graph of the three against the engine in
 * onnxruntime-web.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { DEFAULT_DISTORTION } from "../data/distort.ts";
import { preprocess } from "../data/preprocess.ts";
import { boostSet, COIN_SEED_OFFSET, ensembleScores } from "../engine/boost.ts";
import { Rng } from "../engine/rng.ts";
import { buildModel, type Model } from "../engine/model.ts";
import { loadModel } from "../engine/model_file.ts";
import { exportOnnx } from "../export/onnx.ts";
import { PRESETS } from "../presets/presets.ts";
import { assertClose, data } from "./_export_cases.ts";
import { withTempDir } from "./_files.ts";
import { runWeb } from "./_onnx_runtime.ts";
import { task } from "./_task.ts";

/** A LeNet-4 trained by plain SGD on `steps` training digits from `from` (a net that is right most of the time). */
async function quickLenet4(seed: number, from: number, steps = 600): Promise<Model> {
  const { train } = await data();
  const model = buildModel(PRESETS.lenet4.graph, { registry: defaultRegistry, seed });
  const x = preprocess(train.images.subarray(from * 784, (from + steps) * 784), steps, 28, 28);
  for (let s = 0; s < steps; s++) {
    model.zeroGrads();
    model.forward(x.subarray(s * 1024, (s + 1) * 1024), 1);
    model.backward(train.labels.subarray(from + s, from + s + 1));
    for (let i = 0; i < model.trainableCount; i++) model.params[i] -= 0.005 * model.grads[i];
  }
  return model;
}

/** The classes `model` gives raw 28x28 images, computed here. */
function classes(model: Model, images: Uint8Array, n: number): number[] {
  const out: number[] = [];
  for (let start = 0; start < n; start += 500) {
    const m = Math.min(500, n - start);
    const y = model.forward(preprocess(images.subarray(start * 784, (start + m) * 784), m, 28, 28), m);
    for (let s = 0; s < m; s++) {
      const row = Array.from(y.subarray(s * 10, (s + 1) * 10));
      out.push(row.indexOf(Math.min(...row))); // place-code distances: the nearest code
    }
  }
  return out;
}

Deno.test("boost: net 2's set is half patterns net 1 gets right and half it gets wrong; net 3's, patterns nets 1 and 2 disagree on", async () => {
  const { train } = await data();
  const net1 = await quickLenet4(1, 0), net2 = await quickLenet4(2, 600);
  const count = 400;
  const half = boostSet(train, [net1], { count, seed: 5, distort: DEFAULT_DISTORTION, filter: "half-right" });
  // Before pattern i the coin's draw i said which kind to wait for: right (< 0.5) or wrong.
  const coin = new Rng(5 + COIN_SEED_OFFSET), answers = classes(net1, half.images, count);
  answers.forEach((c, i) => assert.equal(c === half.labels[i], coin.next() < 0.5, `pattern ${i}`));
  const right = answers.filter((c, i) => c === half.labels[i]).length;
  assert.ok(right > 0.3 * count && right < 0.7 * count, `${right} of ${count} right`);
  assert.ok(half.drawn > count, `${half.drawn} candidates drawn`);
  const again = boostSet(train, [net1], { count, seed: 5, distort: DEFAULT_DISTORTION, filter: "half-right" });
  assert.deepEqual([again.images, again.labels, again.drawn], [half.images, half.labels, half.drawn], "the same seed");

  const differ = boostSet(train, [net1, net2], { count, seed: 6, distort: DEFAULT_DISTORTION, filter: "disagree" });
  const a = classes(net1, differ.images, count), b = classes(net2, differ.images, count);
  assert.ok(a.every((c, i) => c !== b[i]), "nets 1 and 2 disagree on every pattern kept");
  assert.throws(
    () => boostSet(train, [net1], { count: 10, seed: 1, distort: DEFAULT_DISTORTION, filter: "disagree" }),
    /Cannot filter "disagree" with 1 net/,
  );
});

Deno.test("boost: the three nets export as one ONNX graph whose scores are their sum, as the engine adds them", async () => {
  const { test } = await data();
  const nets = [await quickLenet4(1, 0, 300), await quickLenet4(2, 300, 300), await quickLenet4(3, 600, 300)];
  const n = 200, images = test.images.slice(0, n * 784);
  const x = preprocess(images, n, 28, 28);
  const sum = ensembleScores(nets, x, n);
  const byHand = new Float64Array(n * 10);
  for (const net of nets) net.forward(x, n).forEach((v, i) => (byHand[i] += v));
  assertClose(sum, byHand, { rel: 1e-12, abs: 1e-12 }, "the sum");
  const out = await runWeb(exportOnnx(nets[0], { rawInput: "uint8", ensemble: nets.slice(1) }), {
    image: { type: "uint8", dims: [n, 28, 28], data: images },
  });
  assertClose(out.scores.data, sum, { rel: 1e-4, abs: 1e-4 }, "scores");
  const nearest = Array.from({ length: n }, (_, s) => {
    const row = Array.from(sum.subarray(s * 10, (s + 1) * 10));
    return row.indexOf(Math.min(...row));
  });
  assert.deepEqual(out.class.data, nearest);
  const other = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry });
  assert.throws(() => exportOnnx(nets[0], { rawInput: "uint8", ensemble: [other] }), /ensemble net 2 reads another/);
});

Deno.test("boost: deno task boost trains three nets, and its test errors are those of the nets it saved", async () => {
  await withTempDir(async (dir) => {
    const out = join(dir, "boosted");
    const r = await task("boost", "--limit", "300", "--epochs", "1", "--patterns", "150", "--out", out);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    const nets = await Promise.all(
      [1, 2, 3].map((i) => loadModel(join(out, `net${i}`, "model.json"), defaultRegistry)),
    );
    const { test } = await data();
    const wrong = (scores: ArrayLike<number>) => {
      let w = 0;
      for (let s = 0; s < test.count; s++) {
        const row = Array.from({ length: 10 }, (_, c) => scores[s * 10 + c]);
        if (row.indexOf(Math.min(...row)) !== test.labels[s]) w++;
      }
      return w / test.count;
    };
    const x = preprocess(test.images, test.count, 28, 28), each: Float64Array[] = [];
    for (const net of nets) {
      const y = new Float64Array(test.count * 10);
      for (let s = 0; s < test.count; s += 1000) {
        y.set(net.forward(x.subarray(s * 1024, (s + 1000) * 1024), 1000), s * 10);
      }
      each.push(y);
    }
    assert.deepEqual(summary.netErrors, each.map(wrong));
    assert.equal(summary.testError, wrong(each[0].map((v, i) => v + each[1][i] + each[2][i])));
    assert.equal(summary.drawn.length, 2);
    assert.ok((await Deno.stat(join(out, "boosted.onnx"))).size > 0);
    // Done steps are skipped: a second run trains nothing and gives the same summary.
    const again = await task("boost", "--limit", "300", "--epochs", "1", "--patterns", "150", "--out", out);
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /deno task train/);
    const second = JSON.parse(await Deno.readTextFile(join(out, "summary.json")));
    assert.deepEqual([second.testError, second.netErrors], [summary.testError, summary.netErrors]);
  });
});
