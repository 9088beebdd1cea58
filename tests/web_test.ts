/**
 * The web app (issue 15): the shipped models' recorded test errors, the HTTP
 * API (good requests, every bad-input case, 50 concurrent clients), and the
 * page in a real Chromium (Debian's, driven by playwright-core): it loads
 * without console errors, reads real MNIST digits drawn on its canvas with the
 * mouse as the engine reads the same 28x28 images, and gives the same answers
 * on WebAssembly and on WebGPU (SwiftShader).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as ort from "onnxruntime-web";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { evaluate } from "../engine/evaluate.ts";
import { loadModel } from "../engine/model_file.ts";
import { encodePng } from "../report/png.ts";
import { bigInverted } from "./_files.ts";
import { deno, ROOT } from "./_task.ts";
import { shippedModels } from "../web/build.ts";
import { MAX_BODY_BYTES, startServer } from "../web/server.ts";

const CHROMIUM = "/usr/bin/chromium";

const mnist = loadMnist();

/** The engine's classes of `n` 28x28 images (grey levels, 0 = background) by a shipped model. */
async function engineClasses(modelFile: string, images: Uint8Array, n: number): Promise<Int32Array> {
  const model = await loadModel(join(ROOT, "models", modelFile), defaultRegistry);
  const split = { images, labels: new Uint8Array(n), count: n, rows: 28, cols: 28 };
  return evaluate(model, split).predictions;
}

Deno.test("web: each shipped model has the test error recorded beside it, in the engine and as its .onnx", async () => {
  const { test } = await mnist;
  ort.env.wasm.numThreads = 1;
  for (const m of await shippedModels()) {
    const classes = await engineClasses(m.model, test.images, test.count);
    const wrong = classes.filter((c, i) => c !== test.labels[i]).length;
    assert.equal(wrong / test.count, m.testError, `${m.name}: the engine's test error`);
    const session = await ort.InferenceSession.create(await Deno.readFile(join(ROOT, "models", m.onnx)));
    try {
      const out = await session.run({ image: new ort.Tensor("uint8", test.images, [test.count, 28, 28]) });
      const onnx = Array.from(out.class.data as BigInt64Array, Number);
      const onnxWrong = onnx.filter((c, i) => c !== test.labels[i]).length;
      // float32 sums in onnxruntime against float64 in the engine: a digit on the fence may fall either way.
      assert.ok(Math.abs(onnxWrong - wrong) <= 2, `${m.name}: the .onnx gets ${onnxWrong} wrong, the engine ${wrong}`);
    } finally {
      await session.release();
    }
  }
});

/** A real test digit drawn 10 times larger, dark ink on white, as a PNG. */
async function bigInvertedPng(image: Uint8Array): Promise<Uint8Array> {
  return await encodePng(bigInverted(image), 280, 280, 1);
}

Deno.test("web: the API answers PNG and JSON requests as the engine does, and refuses bad input with a 4xx naming it", async () => {
  const site = await Deno.makeTempDir({ prefix: "lenet5-web-" });
  const server = await startServer({ port: 0, site, quiet: true });
  try {
    const models = await (await fetch(`${server.url}api/models`)).json();
    assert.deepEqual(models.map((m: { name: string }) => m.name), (await shippedModels()).map((m) => m.name));
    const { test } = await mnist;
    const n = 10;
    const expected = await engineClasses(models[0].model, test.images, n);
    for (let i = 0; i < n; i++) {
      const image = test.images.subarray(i * 784, (i + 1) * 784);
      const r = await fetch(`${server.url}api/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ pixels: Array.from(image), model: models[0].name }),
      });
      assert.equal(r.status, 200);
      const body = await r.json();
      assert.equal(body.class, expected[i], `digit ${i}: the API's class is the engine's`);
      assert.equal(body.probabilities.length, 10);
      assert.equal(body.distances.length, 10);
      assert.equal(body.backend, "wasm");
      assert.equal(body.model, models[0].name);
    }
    // A large dark-on-light PNG: made MNIST-like by the server, read as its label.
    let right = 0;
    for (let i = 0; i < n; i++) {
      const png = await bigInvertedPng(test.images.subarray(i * 784, (i + 1) * 784));
      const r = await fetch(`${server.url}api/predict`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: png as Uint8Array<ArrayBuffer>,
      });
      assert.equal(r.status, 200);
      if ((await r.json()).class === test.labels[i]) right++;
    }
    assert.ok(right >= 9, `${right} of 10 large inverted PNG digits read right`);

    const post = (body: BodyInit, type = "application/json") =>
      fetch(`${server.url}api/predict`, { method: "POST", headers: { "content-type": type }, body });
    const bad: [Promise<Response>, number, RegExp][] = [
      [post("hello", "text/plain"), 415, /content-type text\/plain is not image\/png or application\/json/],
      [post("{not json"), 400, /neither a PNG image nor JSON/],
      [post("[1,2]"), 400, /must be an object/],
      [
        post(JSON.stringify({ pixels: new Array(783).fill(0) })),
        400,
        /field "pixels" must be a list of 784 .* got 783 values/,
      ],
      [post(JSON.stringify({ pixels: [...new Array(783).fill(0), 300] })), 400, /value 783 is 300, expected 0\.\.255/],
      [post(JSON.stringify({ pixels: new Array(784).fill("x") })), 400, /value 0 is "x"/],
      [post(JSON.stringify({ pixels: new Array(784).fill(0), model: "lenet6" })), 400, /unknown model "lenet6"/],
      [post(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]), "image/png"), 400, /Cannot read PNG image/],
      [post(new Uint8Array(MAX_BODY_BYTES + 1)), 413, /over the limit of 1 MB/],
      [fetch(`${server.url}api/predict`), 405, /POST a PNG or JSON/],
      [fetch(`${server.url}api/nothing`), 404, /no API \/api\/nothing/],
      [fetch(`${server.url}../../etc/passwd`), 404, /not found|no file/],
      [fetch(`${server.url}%E0%A4%A`), 400, /not valid percent-encoding/],
    ];
    for (const [response, status, message] of bad) {
      const r = await response;
      assert.equal(r.status, status, message.source);
      assert.match((await r.json()).error, message);
    }
    // Still serving, the page too.
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /text\/html/);
    assert.match(await page.text(), /LeNet-5 reads your digit/);
    const wasm = await fetch(`${server.url}ort-wasm-simd-threaded.asyncify.wasm`);
    assert.equal(wasm.headers.get("content-type"), "application/wasm");
    await wasm.body?.cancel();
  } finally {
    await server.close();
    await Deno.remove(site, { recursive: true });
  }
});

Deno.test("web: 50 concurrent clients of 4 requests each lose no request and get no 5xx", async () => {
  const site = await Deno.makeTempDir({ prefix: "lenet5-web-" });
  const server = await startServer({ port: 0, site, quiet: true });
  try {
    const { test } = await mnist;
    const clients = 50, requests = 4;
    let ok = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: clients }, async (_, c) => {
      const body = JSON.stringify({ pixels: Array.from(test.images.subarray(c * 784, (c + 1) * 784)) });
      for (let i = 0; i < requests; i++) {
        try {
          const r = await fetch(`${server.url}api/predict`, {
            method: "POST",
            body,
            headers: { "content-type": "application/json" },
          });
          const data = await r.json();
          if (r.status === 200 && typeof data.class === "number") ok++;
          else failures.push(`client ${c}: HTTP ${r.status} ${JSON.stringify(data)}`);
        } catch (e) {
          failures.push(`client ${c}: ${(e as Error).message}`);
        }
      }
    }));
    assert.deepEqual(failures.slice(0, 5), []);
    assert.equal(ok, clients * requests);
  } finally {
    await server.close();
    await Deno.remove(site, { recursive: true });
  }
});

// ---------------------------------------------------------------- the page in Chromium

const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) console.warn(`web_test.ts: the browser tests are skipped: no ${CHROMIUM} (apt-get install chromium)`);

/** What the page computed for one image (web/app.ts `lenet5.last`). */
interface Last {
  input: number[];
  class: number;
  probabilities: number[];
  backend: string;
}

Deno.test({
  name:
    "web: the page in Chromium reads real MNIST digits drawn with the mouse as the engine does, on WASM and on WebGPU",
  ignore: !hasChromium,
  async fn() {
    const site = await Deno.makeTempDir({ prefix: "lenet5-web-" });
    const server = await startServer({ port: 0, site, quiet: true });
    try {
      // playwright-core reads /proc and the home folder: it runs in its own process with every permission.
      const n = 10;
      const browser = join(ROOT, "tests", "_web_browser.ts"), png = join(ROOT, "runs", "web-page.png");
      const out = await deno(["run", "-A", browser, server.url, String(n), png], {
        signal: AbortSignal.timeout(300_000), // a hang fails the test instead of stalling the suite
      });
      assert.equal(out.code, 0, out.stderr);
      const r = JSON.parse(out.stdout) as {
        status: string;
        errors: string[];
        seen: Last[];
        backends: string[];
        gpu: Last[];
        cpu: Last[];
        phoneOverflow: number;
        offline: Last;
      };
      assert.equal(r.offline.class, r.seen[0].class, "offline, reloaded, the page still reads the first digit");
      assert.ok(r.phoneOverflow <= 0, `on a 390-pixel-wide screen the page is ${r.phoneOverflow} pixels too wide`);
      assert.match(r.status, /Ready: .* on wasm/);
      assert.deepEqual(r.errors, [], "no console errors");
      const { test } = await mnist;
      const inputs = Uint8Array.from(r.seen.flatMap((s) => s.input));
      const engine = await engineClasses((await shippedModels())[0].model, inputs, n);
      assert.deepEqual(
        r.seen.map((s) => s.class),
        Array.from(engine),
        "the page's class is the engine's on its 28x28 image",
      );
      const right = r.seen.filter((s, i) => s.class === test.labels[i]).length;
      assert.ok(right >= 9, `${right} of ${n} drawn digits read as their label`);
      assert.deepEqual(r.backends, ["webgpu", "wasm"], "Chromium with --enable-unsafe-webgpu offers WebGPU");
      for (let i = 0; i < n; i++) {
        assert.equal(r.gpu[i].backend, "webgpu");
        assert.equal(r.cpu[i].backend, "wasm");
        assert.equal(r.gpu[i].class, r.cpu[i].class, `digit ${i}`);
        assert.equal(r.gpu[i].class, r.seen[i].class, `digit ${i}`);
        const worst = Math.max(...r.gpu[i].probabilities.map((p, k) => Math.abs(p - r.cpu[i].probabilities[k])));
        assert.ok(worst <= 1e-4, `digit ${i}: probabilities differ by ${worst} between WebGPU and WASM`);
      }
    } finally {
      await server.close();
      await Deno.remove(site, { recursive: true });
    }
  },
});
