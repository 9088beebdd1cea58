/**
 * data/mnistify.ts against MNIST itself: real test digits drawn 10 times
 * larger, inverted (dark on light), made MNIST-like again, are read as the
 * originals by a trained model; the steps do what they say.
 */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { mnistify } from "../data/mnistify.ts";
import { evaluate } from "../engine/evaluate.ts";
import { loadModel } from "../engine/model_file.ts";
import { bigInverted, withTempDir } from "./_files.ts";
import { task } from "./_task.ts";

Deno.test("mnistify: test digits redrawn 280x280 and inverted are read as the originals (trained lenet5)", async () => {
  const { test } = await loadMnist();
  const model = await loadModel(new URL("../models/lenet5/model.json", import.meta.url).pathname, defaultRegistry);
  const n = 300;
  const redone = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) {
    const r = mnistify(bigInverted(test.images.subarray(i * 784, (i + 1) * 784)), 280, 280);
    assert.ok(r.inverted, `digit ${i}: dark ink on light was seen`);
    assert.ok(Math.max(r.box!.width, r.box!.height) <= 200, `digit ${i}: the ink box is the digit's`);
    redone.set(r.image, i * 784);
  }
  const labels = test.labels.subarray(0, n);
  const original = evaluate(model, { ...test, count: n }).predictions;
  const again = evaluate(model, { images: redone, labels, count: n, rows: 28, cols: 28 }).predictions;
  const same = original.filter((c, i) => c === again[i]).length;
  assert.ok(same >= 0.96 * n, `${same} of ${n} keep their class`);
});

Deno.test("mnistify: the ink fits a 20x20 box, its centre of mass lands at the centre, a blank image stays blank", () => {
  // A light 30x10 bar on dark at the top left of 200x100: scaled to 20x7, centred.
  const grey = new Uint8Array(200 * 100);
  for (let y = 5; y < 15; y++) for (let x = 10; x < 40; x++) grey[y * 200 + x] = 200;
  const r = mnistify(grey, 200, 100);
  assert.equal(r.inverted, false);
  assert.deepEqual(r.box, { x: 10, y: 5, width: 30, height: 10 });
  let count = 0, mx = 0, my = 0, x0 = 28, x1 = 0, y0 = 28, y1 = 0;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = r.image[y * 28 + x];
      if (!v) continue;
      count += v, mx += v * (x + 0.5), my += v * (y + 0.5);
      x0 = Math.min(x0, x), x1 = Math.max(x1, x), y0 = Math.min(y0, y), y1 = Math.max(y1, y);
    }
  }
  assert.equal(x1 - x0 + 1, 20);
  assert.equal(y1 - y0 + 1, 7);
  assert.ok(
    Math.abs(mx / count - 14) <= 0.5 && Math.abs(my / count - 14) <= 0.5,
    `centre ${mx / count}, ${my / count}`,
  );
  assert.equal(Math.max(...r.image), 255, "the ink is full ink");
  const blank = mnistify(new Uint8Array(50 * 50).fill(255), 50, 50);
  assert.equal(blank.box, null);
  assert.ok(blank.image.every((v) => v === 0));
  assert.throws(() => mnistify(new Uint8Array(10), 5, 5), /10 grey levels for a 5x5 image/);
});

Deno.test("mnistify: deno task predict reads test digits saved as large dark-on-light PNGs as the engine reads the digits", async () => {
  const { test } = await loadMnist();
  const { encodePng } = await import("../report/png.ts");
  await withTempDir(async (dir) => {
    const n = 10;
    const model = await loadModel(new URL("../models/lenet5/model.json", import.meta.url).pathname, defaultRegistry);
    const engine = evaluate(model, { ...test, count: n }).predictions;
    for (let i = 0; i < n; i++) {
      const big = bigInverted(test.images.subarray(i * 784, (i + 1) * 784));
      const png = `${dir}/digit${i}.png`, seen = `${dir}/seen${i}.png`;
      await Deno.writeFile(png, await encodePng(big, 280, 280, 1));
      const out = await task(
        "predict",
        ...["--model", new URL("../models/lenet5/lenet5.onnx", import.meta.url).pathname],
        ...["--input", png, "--backend", "wasm", "--json", "--save-input", seen],
      );
      assert.equal(out.code, 0, out.stderr);
      const r = JSON.parse(out.stdout);
      assert.equal(r.predictions[0].class, engine[i], `digit ${i}: the class is the one of the original 28x28 digit`);
      assert.ok((await Deno.stat(seen)).size > 0, "--save-input wrote the 28x28 image");
    }
  }, "lenet5-predict-");
});
