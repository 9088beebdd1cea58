/**
 * The web server as a hostile client meets it (issue 26, items 1, 4, 6, 7
 * and 9), each against a real server started in this process: the 8192x8192
 * PNG of zeros is refused from its header and memory stays flat; maximal
 * PNGs decode off the serving thread, so /api/models answers while they are
 * in flight; the decode queue's bound and deadline give 503; pictures with no
 * ink get 422; a model with non-finite outputs is a 500 naming it; rough
 * paths, slow bodies, compressed bodies and mismatched models get their 4xx
 * and never a stack trace in the log; symlinks, FIFOs and sockets in the site
 * folder are not served; HEAD answers headers alone and every 405 has Allow.
 *
 * No test asserts a duration: the ordering test checks which answer comes
 * first, and timers only guard against hangs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { loadModel } from "../engine/model_file.ts";
import { exportOnnx } from "../export/onnx.ts";
import { encodePng } from "../report/png.ts";
import { LOCK_FILE } from "../data/out_folder.ts";
import { shippedModels, SITE_FOLDER } from "../web/build.ts";
import { inflatedBytes } from "../data/idx.ts";
import { type DecodedImage, DecodePool } from "../web/decode_pool.ts";
import { handler, MAX_API_PIXELS, MAX_BODY_BYTES, Predictor, startServer } from "../web/server.ts";
import { compress, png, withTempDir } from "./_files.ts";
import { portOf, rawRequest, type RawResponse } from "./_http.ts";
import { deno, ROOT, run } from "./_task.ts";

const mnist = loadMnist();

type Server = Awaited<ReturnType<typeof startServer>>;
type ServerOptions = Parameters<typeof startServer>[0];

/** A server on a fresh temporary site folder, closed and removed after `body`. */
async function withServer(
  extra: Partial<ServerOptions>,
  body: (server: Server, site: string) => Promise<void>,
): Promise<void> {
  const site = await Deno.makeTempDir({ prefix: "lenet5-harden-" });
  const server = await startServer({ port: 0, site, quiet: true, ...extra });
  try {
    await body(server, site);
  } finally {
    await server.close();
    await Deno.remove(site, { recursive: true });
  }
}

/** Runs `body` with console.error collected (and silenced). */
async function capturingErrors<T>(body: () => Promise<T>): Promise<{ value: T; logged: string[] }> {
  const logged: string[] = [], original = console.error;
  console.error = (...args: unknown[]) => logged.push(args.map(String).join(" "));
  try {
    return { value: await body(), logged };
  } finally {
    console.error = original;
  }
}

/** An 8-bit RGBA PNG, filter None on every row; `pixel` writes [r, g, b, a] of (x, y). */
async function rgbaPng(
  width: number,
  height: number,
  pixel: (x: number, y: number, out: Uint8Array) => void,
): Promise<Uint8Array<ArrayBuffer>> {
  const stride = width * 4 + 1, raw = new Uint8Array(height * stride), px = new Uint8Array(4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      pixel(x, y, px);
      raw.set(px, y * stride + 1 + 4 * x);
    }
  }
  return png(width, height, 8, 6, [await compress("deflate", raw)]) as Uint8Array<ArrayBuffer>;
}

/** A test digit drawn `side` x `side` (the largest the API takes: 2048), dark ink on white, as an RGBA PNG. */
function bigDigitPng(digit: Uint8Array, side = 2048): Promise<Uint8Array<ArrayBuffer>> {
  return rgbaPng(side, side, (x, y, out) => {
    const g = 255 - digit[Math.floor((y * 28) / side) * 28 + Math.floor((x * 28) / side)];
    out.set([g, g, g, 255]);
  });
}

const postTo = (url: string, body: BodyInit, type = "image/png") =>
  fetch(`${url}api/predict`, { method: "POST", headers: { "content-type": type }, body });

/** A 4xx/5xx answer with its JSON error; fails naming `what` otherwise. */
async function errorOf(r: Response, status: number, what: string): Promise<string> {
  const text = await r.text();
  assert.equal(r.status, status, `${what}: HTTP ${r.status} ${text}`);
  assert.match(r.headers.get("content-type") ?? "", /application\/json/, what);
  const body = JSON.parse(text);
  assert.equal(typeof body.error, "string", `${what}: ${text}`);
  return body.error;
}

/** A decode pool that counts the bodies given to it. */
class CountingPool extends DecodePool {
  bodies = 0;
  override decode(body: Uint8Array<ArrayBuffer>): Promise<DecodedImage> {
    this.bodies++;
    return super.decode(body);
  }
}

Deno.test("server: the issue's 8192x8192 PNG of zeros is refused with 413 from its header, four at once, none decoded", async () => {
  // 8-bit RGBA zeros: 268 MB of rows deflate to about 261 KB, inside the 1 MB body limit.
  const zeros = png(8192, 8192, 8, 6, [await compress("deflate", new Uint8Array(0), 8192 * (8192 * 4 + 1))]);
  assert.ok(zeros.length < MAX_BODY_BYTES, `${zeros.length} bytes`);
  const decoder = new CountingPool({ maxPixels: MAX_API_PIXELS });
  await withServer({ decoder }, async (server) => {
    const inflated = inflatedBytes();
    const answers = await Promise.all(Array.from({ length: 4 }, () => postTo(server.url, zeros.slice())));
    for (const r of answers) {
      const error = await errorOf(r, 413, "8192x8192 zeros");
      assert.match(error, /the image is 8192x8192 pixels \(67,108,864\), more than the limit of 4,194,304/);
    }
    // Decoding one would take 256 MiB of samples (the issue saw 520 MB, and 1.31 GB for four): none reached a
    // decoder, and the server's thread inflated none of their image data.
    assert.equal(decoder.bodies, 0, "PNGs handed to the decode pool");
    assert.equal(inflatedBytes() - inflated, 0, "bytes inflated");
    assert.equal(MAX_API_PIXELS, 2048 * 2048);
  });
});

Deno.test("server: while maximal PNGs decode, /api/models answers before any of them, and they read right", async () => {
  const { test } = await mnist;
  const n = 4;
  const pngs = await Promise.all(
    Array.from({ length: n }, (_, i) => bigDigitPng(test.images.subarray(i * 784, (i + 1) * 784))),
  );
  for (const p of pngs) assert.ok(p.length < MAX_BODY_BYTES);
  const decoder = new DecodePool({ maxPixels: MAX_API_PIXELS });
  await withServer({ decoder }, async (server) => {
    const done: number[] = [];
    const posts = pngs.map((p, i) =>
      postTo(server.url, p).then(async (r) => {
        done.push(i);
        return { status: r.status, body: await r.json() };
      })
    );
    // Wait until the decoders hold a PNG (an ordering check: no duration is asserted).
    while (decoder.pending === 0 && done.length === 0) await new Promise((r) => setTimeout(r, 2));
    const models = await fetch(`${server.url}api/models`);
    assert.equal(models.status, 200);
    await models.json();
    assert.deepEqual(done, [], "/api/models answered after a PNG: the PNGs block the serving thread");
    assert.ok(decoder.pending > 0);
    const answers = await Promise.all(posts);
    let right = 0;
    for (const [i, a] of answers.entries()) {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      if (a.body.class === test.labels[i]) right++;
    }
    assert.ok(right >= n - 1, `${right} of ${n} 2048x2048 digits read as their label`);
  });
});

Deno.test("server: past the decode queue's bound a PNG gets 503 with Retry-After; past its deadline, 503 too", async () => {
  const { test } = await mnist;
  const big = await bigDigitPng(test.images.subarray(0, 784));
  // One worker and one waiting place: of six at once, the third to arrive finds both taken.
  await withServer({ decoder: new DecodePool({ workers: 1, queue: 1 }) }, async (server) => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => postTo(server.url, big.slice())));
    const statuses = answers.map((r) => r.status);
    assert.ok(statuses.every((s) => s === 200 || s === 503), `statuses ${statuses}`);
    assert.ok(statuses.filter((s) => s === 200).length >= 2, `statuses ${statuses}: the worker and the queue answer`);
    const busy = answers.filter((r) => r.status === 503);
    assert.ok(busy.length >= 1, `statuses ${statuses}: no 503 past the queue's bound`);
    for (const r of busy) {
      assert.equal(r.headers.get("retry-after"), "1");
      assert.match(await errorOf(r, 503, "queue full"), /busy: the decode queue is full: 1 PNGs wait for a worker/);
    }
    for (const r of answers.filter((r) => r.status === 200)) await r.body?.cancel();
  });
  // A deadline shorter than any decoding: the worker is terminated, the request gets 503, the server goes on.
  const decoder = new DecodePool({ workers: 1, deadlineMs: 1 });
  await withServer({ decoder }, async (server) => {
    const r = await postTo(server.url, big.slice());
    assert.match(await errorOf(r, 503, "deadline"), /decoding took longer than the deadline of 0.001 s/);
    assert.equal(r.headers.get("retry-after"), "1");
    assert.equal(decoder.pending, 0, "the job left the pool with its worker");
    const json = await postTo(server.url, JSON.stringify({ pixels: Array.from(test.images.subarray(0, 784)) }), "");
    assert.equal(json.status, 200);
    await json.body?.cancel();
  });
});

Deno.test("server: an idle decode worker ends, its memory with it, and the next PNG starts a new one", async () => {
  const { test } = await mnist;
  const png = await bigDigitPng(test.images.subarray(0, 784), 280);
  const decoder = new DecodePool({ workers: 2, idleMs: 20 });
  await withServer({ decoder }, async (server) => {
    for (let round = 0; round < 2; round++) {
      const answers = await Promise.all([postTo(server.url, png.slice()), postTo(server.url, png.slice())]);
      for (const r of answers) assert.equal((await r.json()).class, test.labels[0]);
      // Waits for the condition (an end to the wait is only there so that a failure cannot hang the suite).
      for (let i = 0; i < 1000 && decoder.running > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(decoder.running, 0, `round ${round}: no worker is left once the pool is idle`);
    }
  });
});

Deno.test("server: pictures with no ink get 422 with the reason, as PNG and as JSON", async () => {
  const white = await encodePng(new Uint8Array(280 * 280).fill(255), 280, 280, 1);
  const transparent = await rgbaPng(28, 28, (_x, _y, out) => out.set([255, 255, 255, 0]));
  const single = await encodePng(Uint8Array.of(0), 1, 1, 1);
  // Grey 100 with darker marks: on a dark ground only lighter pixels are ink, and there are none.
  const dull = new Uint8Array(100 * 100).fill(100);
  for (let i = 40; i < 60; i++) dull[i * 100 + 50] = 30;
  const darker = await encodePng(dull, 100, 100, 1);
  await withServer({}, async (server) => {
    const cases: [string, Promise<Response>, RegExp][] = [
      ["all white", postTo(server.url, white as BodyInit), /no ink: every pixel is grey level 255/],
      ["fully transparent", postTo(server.url, transparent), /no ink: every pixel is grey level 0/],
      ["1x1", postTo(server.url, single as BodyInit), /no ink: every pixel is grey level 0/],
      ["only darker marks on grey", postTo(server.url, darker as BodyInit), /no ink: no pixel is lighter than the/],
      [
        "784 zeros",
        postTo(server.url, JSON.stringify({ pixels: new Array(784).fill(0) }), "application/json"),
        /no ink: all 784 pixels are grey level 0/,
      ],
      [
        "784 x 255",
        postTo(server.url, JSON.stringify({ pixels: new Array(784).fill(255) }), ""),
        /all 784 pixels are grey level 255/,
      ],
    ];
    for (const [what, answer, message] of cases) assert.match(await errorOf(await answer, 422, what), message, what);
    // A digit is not refused.
    const { test } = await mnist;
    const ok = await postTo(server.url, await bigDigitPng(test.images.subarray(0, 784), 280));
    assert.equal(ok.status, 200);
    assert.equal((await ok.json()).class, test.labels[0]);
  });
});

Deno.test("server: a model with non-finite outputs is a 500 naming it; a model file that is a FIFO fails at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lenet5-harden-models-" });
  const decoder = new DecodePool();
  try {
    const [shipped] = await shippedModels();
    // The model: every weight finite but 3e38, so the scores overflow to Infinity.
    const model = await loadModel(join(ROOT, "models", shipped.model), defaultRegistry);
    model.params.fill(3e38);
    await Deno.writeFile(join(dir, "overflow.onnx"), exportOnnx(model, { rawInput: "uint8" }));
    const fifo = join(dir, "fifo.onnx");
    assert.equal((await run("mkfifo", [fifo])).code, 0);
    const predictor = new Predictor([
      { ...shipped, name: "overflow", onnx: "overflow.onnx" },
      { ...shipped, name: "fifo", onnx: "fifo.onnx" },
    ], dir);
    const serve = handler(dir, { predictor, decoder });
    const { test } = await mnist;
    const pixels = Array.from(test.images.subarray(0, 784));
    const ask = (model: string) =>
      serve(
        new Request("http://127.0.0.1/api/predict", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ pixels, model }),
        }),
      );
    const { value, logged } = await capturingErrors(async () => {
      const overflow = await errorOf(await ask("overflow"), 500, "overflow");
      const fifoError = await Promise.race([
        ask("fifo").then((r) => errorOf(r, 500, "fifo")),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("the FIFO model hangs")), 10_000)),
      ]);
      return { overflow, fifoError };
    });
    assert.match(
      value.overflow,
      /model "overflow" gave a non-finite output for this image: its score \d+ is (NaN|-?Infinity)/,
    );
    assert.equal(value.fifoError, "internal error");
    assert.equal(logged.length, 2, logged.join("\n"));
    assert.match(logged[0], /^error: POST \/api\/predict: model "overflow" gave a non-finite output/);
    assert.match(
      logged[1],
      /^error: POST \/api\/predict: Cannot read model "fifo" from ".*fifo.onnx": it is a FIFO, not a regular file$/,
    );
    await predictor.close();
  } finally {
    decoder.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A request line and headers (Connection: close), then `body`. */
const request = (method: string, path: string, headers = "", body = "") =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n${body}`;

/** The raw response to `req`; fails when there is none within the guard. */
async function answer(port: number, req: string, head = false): Promise<RawResponse> {
  const out = await rawRequest(port, req, { timeoutMs: 10_000, head });
  assert.ok(out.response, `${JSON.stringify(req.slice(0, 120))}: no response (${new TextDecoder().decode(out.bytes)})`);
  return out.response;
}

const errorText = (r: RawResponse) => JSON.parse(new TextDecoder().decode(r.body)).error as string;

Deno.test("server: rough paths, slow and compressed bodies and mismatched models get a 4xx, never a stack trace", async () => {
  const { test } = await mnist;
  const pixels = JSON.stringify({ pixels: Array.from(test.images.subarray(0, 784)) });
  const json = (extra: Record<string, unknown>) =>
    JSON.stringify({ pixels: Array.from(test.images.subarray(0, 784)), ...extra });
  await withServer({ bodyTimeoutMs: 300 }, async (server) => {
    const port = portOf(server.url);
    const length = (body: string) => `content-type: application/json\r\ncontent-length: ${body.length}\r\n`;
    const cases: [string, string, number, RegExp | null][] = [
      ["NUL", request("GET", "/%00"), 400, /the path \/%00 holds a control character/],
      ["NUL before an extension", request("GET", "/index.html%00.png"), 400, /holds a control character/],
      ["a newline", request("GET", "/a%0Ab"), 400, /holds a control character/],
      ["DEL", request("GET", "/a%7F"), 400, /holds a control character/],
      ["bad percent-encoding", request("GET", "/%E0%A4%A"), 400, /not valid percent-encoding/],
      ["a 256-byte segment", request("GET", `/${"a".repeat(256)}`), 404, /no file/],
      ["a 300-byte segment in a folder", request("GET", `/models/${"é".repeat(150)}.json`), 404, /no file/],
      ["a long path of short segments", request("GET", `/${"abcdefgh/".repeat(800)}x`), 404, /no file/],
      ["an overlong URL", request("GET", `/${"a".repeat(9000)}`), 414, /over the limit of 8,192/],
      ["a trailing slash after a file", request("GET", "/sw.js/"), 404, /no file \/sw.js\//],
      ["an empty segment", request("GET", "//index.html"), 404, /no file/],
      ["an encoded escape", request("GET", "/..%2f..%2fetc%2fpasswd"), 404, /no file/],
      ["the file itself", request("GET", "/sw.js"), 200, null],
      [
        "gzip",
        request("POST", "/api/predict", `${length(pixels)}content-encoding: gzip\r\n`, pixels),
        415,
        /content-encoding gzip is not supported/,
      ],
      [
        "JSON as image/png",
        request("POST", "/api/predict", `content-type: image/png\r\ncontent-length: ${pixels.length}\r\n`, pixels),
        400,
        /Cannot read PNG image "request body": it has no PNG signature/,
      ],
      [
        "a query and a JSON model that differ",
        request(
          "POST",
          "/api/predict?model=lenet5",
          length(json({ model: "lenet5-modern" })),
          json({ model: "lenet5-modern" }),
        ),
        400,
        /the query asks for model "lenet5" and the JSON body for model "lenet5-modern"/,
      ],
      [
        "an unknown model in the query of a JSON body",
        request("POST", "/api/predict?model=lenet6", length(pixels), pixels),
        400,
        /unknown model "lenet6"/,
      ],
      [
        "a body that stops",
        request(
          "POST",
          "/api/predict",
          "content-type: application/json\r\ncontent-length: 5000\r\n",
          pixels.slice(0, 100),
        ),
        408,
        /the body did not arrive within 0.3 s/,
      ],
    ];
    const { logged } = await capturingErrors(async () => {
      for (const [what, req, status, message] of cases) {
        const r = await answer(port, req);
        const text = new TextDecoder().decode(r.body);
        assert.equal(r.status, status, `${what}: ${r.status} ${text.slice(0, 200)}`);
        if (message) {
          assert.match(r.headers.get("content-type") ?? "", /application\/json/, what);
          assert.match(errorText(r), message, what);
        }
      }
      // The query's model applies to a JSON body.
      const modern = await answer(port, request("POST", "/api/predict?model=lenet5-modern", length(pixels), pixels));
      assert.equal(modern.status, 200);
      assert.equal(JSON.parse(new TextDecoder().decode(modern.body)).model, "lenet5-modern");
    });
    assert.deepEqual(logged, [], "nothing is logged for a client's mistake");
  });
});

Deno.test("server: symlinks, FIFOs and sockets in the site folder answer 404 and never hang", async () => {
  await withTempDir(async (outside) => {
    await Deno.writeTextFile(join(outside, "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
    await withServer({}, async (server, site) => {
      await Deno.symlink(join(outside, "passwd"), join(site, "passwd"));
      await Deno.symlink(outside, join(site, "linked"));
      await Deno.symlink(join(site, "index.html"), join(site, "alias.html"));
      await Deno.symlink(join(outside, "passwd"), join(site, "models", "passwd.json"));
      assert.equal((await run("mkfifo", [join(site, "fifo")])).code, 0);
      // A socket file left by a process that exits without closing it (the tests may not listen on unix sockets).
      const listen = `Deno.listen({ transport: "unix", path: ${JSON.stringify(join(site, "socket"))} }); Deno.exit(0);`;
      assert.equal((await deno(["eval", listen])).code, 0);
      assert.ok((await Deno.lstat(join(site, "socket"))).isSocket);
      const paths = ["/passwd", "/linked/passwd", "/alias.html", "/models/passwd.json", "/fifo", "/socket"];
      // Twenty FIFO requests at once: each would pin a blocking thread if the FIFO were opened.
      const all = [...paths, ...Array.from({ length: 20 }, () => "/fifo")];
      const guard = AbortSignal.timeout(20_000);
      const answers = await Promise.all(all.map((p) => fetch(`${server.url}${p.slice(1)}`, { signal: guard })));
      for (const [i, r] of answers.entries()) {
        const error = await errorOf(r, 404, all[i]);
        assert.doesNotMatch(error, /root:/, all[i]);
      }
      for (const p of paths) {
        const head = await fetch(`${server.url}${p.slice(1)}`, { method: "HEAD", signal: guard });
        assert.equal(head.status, 404, `HEAD ${p}`);
      }
      // The regular files are still served.
      const page = await fetch(server.url, { signal: guard });
      assert.equal(page.status, 200);
      await page.body?.cancel();
      // The folder's bookkeeping (the lock file naming the server's pid and command line, the manifest) is not served.
      for (const name of [LOCK_FILE, SITE_FOLDER.manifest]) {
        assert.ok((await Deno.lstat(join(site, name))).isFile, `${name} is there while the server runs`);
        assert.match(await errorOf(await fetch(`${server.url}${name}`, { signal: guard }), 404, name), /no file/);
      }
    });
  }, "lenet5-harden-outside-");
});

Deno.test("server: HEAD answers the GET endpoints' headers with no body, and every 405 names what is allowed", async () => {
  await withServer({}, async (server, site) => {
    const port = portOf(server.url);
    const index = await Deno.stat(join(site, "index.html"));
    const heads: [string, (r: RawResponse) => void][] = [
      ["/api/models", (r) => assert.match(r.headers.get("content-type")!, /application\/json/)],
      ["/", (r) => assert.equal(r.headers.get("content-length"), `${index.size}`)],
      ["/index.html", (r) => assert.equal(r.headers.get("content-length"), `${index.size}`)],
      ["/mnist/t10k-labels-idx1-ubyte", (r) => assert.equal(r.headers.get("content-length"), "10008")],
    ];
    for (const [path, check] of heads) {
      // Read as a GET would be: a body sent after HEAD's headers would show up as bytes past them.
      const out = await rawRequest(port, request("HEAD", path), { timeoutMs: 10_000, head: true });
      assert.equal(out.response?.status, 200, `HEAD ${path}`);
      const text = new TextDecoder().decode(out.bytes);
      assert.ok(text.endsWith("\r\n\r\n"), `HEAD ${path}: bytes after the headers: ${JSON.stringify(text.slice(-80))}`);
      check(out.response!);
    }
    const wrong: [string, string, string][] = [
      ["POST", "/api/models", "GET, HEAD"],
      ["DELETE", "/api/models", "GET, HEAD"],
      ["GET", "/api/predict", "POST"],
      ["HEAD", "/api/predict", "POST"],
      ["PUT", "/api/predict", "POST"],
      ["POST", "/index.html", "GET, HEAD"],
      ["DELETE", "/mnist/t10k-labels-idx1-ubyte", "GET, HEAD"],
    ];
    for (const [method, path, allow] of wrong) {
      const r = await answer(port, request(method, path, "content-length: 0\r\n"), method === "HEAD");
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get("allow"), allow, `${method} ${path}`);
      if (method !== "HEAD") assert.equal(typeof errorText(r), "string");
    }
  });
});
