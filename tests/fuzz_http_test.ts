/**
 * Seeded fuzzing of the web server's HTTP layer (issue 26), over raw TCP so
 * that malformed requests reach the server as sent: random request lines
 * (methods, paths with %00, %2e%2e, long segments, unicode, trailing slashes,
 * query strings, versions), headers (content-length missing, wrong, huge or
 * repeated, content-encoding, content-type mix-ups, chunked bodies, repeated
 * headers) and bodies (valid PNGs and JSON, mutated at random: truncated, bit
 * flips, chunk lengths and sizes overwritten, JSON oddities). The seeds are
 * fixed, so a failure names its seed and case and reproduces.
 *
 * What counts as a correct outcome (the server's contract):
 * - a well-formed HTTP/1.1 response (status line, headers, a body of the
 *   length it declares), or the connection closed without one for a request
 *   that Deno refuses at the protocol level (hyper's bare 400 with no body
 *   counts as such a refusal too); never a connection left hanging;
 * - never a 5xx but 503 (the decode queue's bound);
 * - every error (4xx, 5xx) from the server is JSON `{"error": string}`;
 * - a 200 from /api/predict is a class 0..9 with 10 finite probabilities;
 * - nothing is logged (console.error) while it runs: no stack trace;
 * - afterwards the server answers a good request exactly as before, and its
 *   decode pool holds no body; bounded work: the pool was handed at most one
 *   body per request, none over MAX_BODY_BYTES or whose header declares more
 *   than MAX_API_PIXELS pixels.
 */
import assert from "node:assert/strict";
import { loadMnist } from "../data/mnist.ts";
import { Rng } from "../engine/rng.ts";
import { encodePng } from "../report/png.ts";
import { readPngHeader } from "../data/images.ts";
import { type DecodedImage, DecodePool } from "../web/decode_pool.ts";
import { MAX_API_PIXELS, MAX_BODY_BYTES, startServer } from "../web/server.ts";
import { bigInverted, concat } from "./_files.ts";
import { MalformedResponse, portOf, rawRequest, type RawResponse } from "./_http.ts";

/** The seeds: each makes CASES requests. */
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const CASES = 80;
/** Requests in flight at once. */
const PARALLEL = 8;
/** The server's body deadline here (its default is 10 s), so that short bodies are answered soon. */
const BODY_TIMEOUT_MS = 250;
/** The longest wait for one response: past it the connection counts as hanging. */
const HANG_MS = 10_000;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)];
const chance = (rng: Rng, p: number) => rng.next() < p;
const enc = (s: string) => new TextEncoder().encode(s);

// ---------------------------------------------------------------------------
// Bodies

interface Seeds {
  readonly pngs: readonly Uint8Array[];
  readonly pixels: readonly number[][];
}

async function seedBodies(): Promise<Seeds> {
  const dir = new URL("./fixtures/png/", import.meta.url);
  const pngs: Uint8Array[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name.endsWith(".png")) pngs.push(await Deno.readFile(new URL(e.name, dir)));
  }
  pngs.sort((a, b) => a.length - b.length); // readDir's order is the file system's: sorted, the seeds reproduce
  const { test } = await loadMnist();
  const pixels = [0, 1, 2, 3].map((i) => Array.from(test.images.subarray(i * 784, (i + 1) * 784)));
  for (const i of [0, 1]) {
    pngs.push(await encodePng(bigInverted(test.images.subarray(i * 784, (i + 1) * 784)), 280, 280, 1));
  }
  // No ink: all white, one black pixel.
  pngs.push(await encodePng(new Uint8Array(64 * 64).fill(255), 64, 64, 1), await encodePng(new Uint8Array(1), 1, 1, 1));
  return { pngs, pixels };
}

/** A PNG mutated at random (or left valid). */
function pngBody(rng: Rng, seeds: Seeds): Uint8Array {
  const b = pick(rng, seeds.pngs).slice();
  const view = new DataView(b.buffer);
  switch (rng.int(7)) {
    case 0:
      return b;
    case 1:
      return b.subarray(0, rng.int(b.length));
    case 2: {
      for (let k = 1 + rng.int(8); k > 0; k--) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    }
    case 3: {
      // A chunk length (or any aligned word) overwritten.
      const at = 8 + 4 * rng.int(Math.max(1, (b.length - 12) >> 2));
      view.setUint32(at, pick(rng, [0, 1, 13, 0x7fffffff, 0xffffffff, rng.int(2 ** 31)]));
      return b;
    }
    case 4: {
      // The header's size: small, at the API's limit, past it, absurd.
      const side = () => pick(rng, [0, 1, 2, 28, 2048, 2049, 4096, 8192, 65535, 2 ** 31]);
      view.setUint32(16, side());
      view.setUint32(20, side());
      return b;
    }
    case 5: {
      const at = rng.int(b.length);
      return concat(
        b.subarray(0, at),
        Uint8Array.from({ length: 1 + rng.int(64) }, () => rng.int(256)),
        b.subarray(at),
      );
    }
    default:
      // IHDR's depth and colour type.
      b[24] = pick(rng, [0, 1, 3, 8, 16, 17, 255]);
      b[25] = pick(rng, [0, 1, 2, 3, 4, 5, 6, 7, 255]);
      return b;
  }
}

/** JSON, valid or odd. */
function jsonBody(rng: Rng, seeds: Seeds): Uint8Array {
  const pixels = pick(rng, seeds.pixels);
  const list = (xs: unknown[]) => `[${xs.join(",")}]`;
  const model = () => pick(rng, ['"lenet5"', '"lenet5-modern"', '"lenet6"', '"__proto__"', '"toString"', "5", "null"]);
  const odd = [
    () => JSON.stringify({ pixels }),
    () => `{"pixels": ${list(pixels)}, "model": ${model()}}`,
    () => `{"pixels": ${list(pixels)}, "pixels": ${list(new Array(784).fill(0))}}`,
    () => `{"__proto__": {"pixels": ${list(pixels)}}}`,
    () => `{"pixels": ${list([...pixels.slice(0, 783), pick(rng, ["1e309", "-0", "254.6", "-1e-300", '"7"', "[]"])])}}`,
    () => `{"pixels": ${pick(rng, ["null", '"abc"', "{}", "[]", "784", list(new Array(785).fill(1))])}}`,
    () => pick(rng, ['"string"', "123", "null", "true", "[]", "", "{", "{}", '{"pixels"'] as const),
    () => "[".repeat(5000) + "]".repeat(5000),
    () => `\ufeff${JSON.stringify({ pixels })}`,
    () => `{"pixels": ${list(pixels.map((v) => (v === 0 ? 0 : v + 0.25)))}} trailing`,
    () => JSON.stringify({ pixels: pixels.map(() => pick(rng, [0, 255])) }),
    () => JSON.stringify({ pixels: new Array(784).fill(pick(rng, [0, 17, 255])) }), // no ink
  ];
  let b = enc(pick(rng, odd)());
  if (chance(rng, 0.2)) b = b.subarray(0, rng.int(b.length + 1));
  if (chance(rng, 0.15)) {
    b = b.slice();
    for (let k = 1 + rng.int(4); k > 0 && b.length; k--) b[rng.int(b.length)] ^= 1 << rng.int(8);
  }
  return b;
}

// ---------------------------------------------------------------------------
// Requests

const METHODS = "GET GET HEAD POST POST POST PUT DELETE OPTIONS PATCH get FOO G@T".split(" ");
const PATHS = [
  ...["/", "/index.html", "/app.js", "/sw.js", "/style.css", "/models/index.json", "/models/", "/api/models"],
  ...["/api/predict", "/api/predict", "/api/predict", "/api/", "/api/nothing", "/mnist/t10k-labels-idx1-ubyte"],
  ...["/mnist/nope", "/nothing.png"],
];
const PATH_TAILS = [
  ...["", "/", "%00", "%00.png", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd", "/%E0%A4%A"],
  ...["%0d%0aSet-Cookie:%20x", "%7f", "/é/日本", "//", "/%C0%AE%C0%AE/"],
];
const QUERIES = ["", "", "?model=lenet5", "?model=lenet5-modern", "?model=lenet6", "?model=", "?model=%00", "?x=1&x=2"];
const TYPES = [
  ...["application/json", "image/png", "IMAGE/PNG", "application/json; charset=utf-8", "text/plain"],
  ...["multipart/form-data; boundary=x", "", "image/png, application/json"],
];

interface Case {
  readonly bytes: Uint8Array;
  readonly method: string;
  readonly path: string;
}

/** A path: mostly one the server has, sometimes with a hostile tail, a long segment or a raw byte. */
function randomPath(rng: Rng, wild: boolean): string {
  let path = pick(rng, PATHS);
  if (wild) {
    const k = rng.int(10);
    if (k < 6) path += pick(rng, PATH_TAILS);
    else if (k < 8) path += `/${"a".repeat(200 + rng.int(120))}`;
    else if (k < 9) path += `/${"b".repeat(8200)}`;
    else path = path.replace("/", pick(rng, ["/\x01", "/a b", "/\x7f"])); // raw bytes: the protocol layer's
  }
  return path + pick(rng, QUERIES);
}

/** The header lines that frame `body` (or a broken framing), and the bytes that follow the headers. */
function framing(rng: Rng, body: Uint8Array, broken: boolean): { lines: string[]; bytes: Uint8Array } {
  const n = body.length;
  if (!broken) return { lines: [`Content-Length: ${n}`], bytes: body };
  switch (rng.int(7)) {
    case 0:
      return { lines: [`Content-Length: ${Math.max(0, n - 1 - rng.int(10))}`], bytes: body };
    case 1:
      return { lines: [`Content-Length: ${n + 1 + rng.int(100)}`], bytes: body }; // a body that stops: 408
    case 2:
      return { lines: [`Content-Length: ${pick(rng, ["99999999999", "-1", "abc", "1e3", "0x10", ""])}`], bytes: body };
    case 3:
      return { lines: [`Content-Length: ${n}`, `Content-Length: ${n + 1}`], bytes: body };
    case 4:
      return { lines: [`Content-Length: ${n}`, "Transfer-Encoding: chunked"], bytes: body };
    case 5:
      return { lines: [], bytes: body }; // no length at all
    default: {
      // Chunked, in random pieces; sometimes a chunk size that lies.
      const parts: Uint8Array[] = [];
      for (let at = 0; at < n;) {
        const k = Math.min(n - at, 1 + rng.int(4096));
        const size = chance(rng, 0.2) ? pick(rng, ["zz", (k + 7).toString(16), "-1"]) : k.toString(16);
        parts.push(enc(`${size}\r\n`), body.subarray(at, at + k), enc("\r\n"));
        at += k;
      }
      parts.push(enc("0\r\n\r\n"));
      return { lines: ["Transfer-Encoding: chunked"], bytes: concat(...parts) };
    }
  }
}

/**
 * One random request, as bytes: well-formed but for what the case's focus
 * mutates (the body, the path, the headers, the framing, the request line),
 * sometimes a second thing too, so that most requests reach the handler.
 */
function randomCase(rng: Rng, seeds: Seeds): Case {
  const focus = pick(rng, ["body", "body", "body", "path", "path", "headers", "framing", "line"] as const);
  const also = chance(rng, 0.15) ? pick(rng, ["path", "headers", "framing", "line"] as const) : null;
  const mutated = (what: string) => focus === what || also === what;
  const png = chance(rng, 0.5);
  let method = focus === "path" ? pick(rng, ["GET", "GET", "HEAD", "POST"]) : "POST";
  if (mutated("line")) method = pick(rng, METHODS);
  const path = focus === "body" || focus === "framing" || focus === "headers"
    ? `/api/predict${pick(rng, QUERIES)}`
    : randomPath(rng, mutated("path"));
  const version = mutated("line") && chance(rng, 0.5)
    ? pick(rng, ["HTTP/1.0", "HTTP/2.0", "HTTP/1.1 extra", "HTTX/1.1", "HTTP/1.1\t"])
    : "HTTP/1.1";
  let body = method === "GET" || method === "HEAD"
    ? (chance(rng, 0.1) ? jsonBody(rng, seeds) : new Uint8Array(0))
    : png
    ? (focus === "body" ? pngBody(rng, seeds) : pick(rng, seeds.pngs))
    : (focus === "body" ? jsonBody(rng, seeds) : enc(JSON.stringify({ pixels: pick(rng, seeds.pixels) })));
  if (focus === "body" && chance(rng, 0.04)) body = new Uint8Array(MAX_BODY_BYTES + 1 + rng.int(1000));
  const headers = ["Host: 127.0.0.1", "Connection: close"];
  let type = png ? "image/png" : "application/json";
  if (mutated("headers")) {
    const k = rng.int(8);
    if (k === 0) type = pick(rng, TYPES);
    else if (k === 1) headers.push(`Content-Encoding: ${pick(rng, ["gzip", "br", "identity", "deflate, gzip", "x"])}`);
    else if (k === 2) headers.push("Expect: 100-continue");
    else if (k === 3) headers.push(`X-Long: ${"x".repeat(1000 + rng.int(40_000))}`);
    else if (k === 4) headers.push(`Content-Type: ${pick(rng, TYPES)}`); // a second one
    else if (k === 5) headers.push("Host: evil.example");
    else if (k === 6) headers.splice(0, 1); // no Host
    else headers.push(...Array.from({ length: 50 + rng.int(100) }, (_, i) => `X-${i}: ${i}`));
  }
  if (type) headers.unshift(`Content-Type: ${type}`);
  const framed = framing(rng, body, mutated("framing"));
  const head = `${method} ${path} ${version}\r\n${[...headers, ...framed.lines].join("\r\n")}\r\n\r\n`;
  return { bytes: concat(enc(head), framed.bytes), method, path };
}

// ---------------------------------------------------------------------------
// The contract

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Checks one response against the contract; returns a problem, or null. */
function problemOf(c: Case, r: RawResponse): string | null {
  const body = text(r.body);
  if (r.status >= 500 && r.status !== 503) return `HTTP ${r.status}: ${body.slice(0, 200)}`;
  // hyper's own refusal of a request it cannot parse: a bare 400 (or 431, 414) with nothing in it.
  const protocol = [400, 414, 431].includes(r.status) && r.body.length === 0 && !r.headers.has("content-type");
  if (r.status >= 400 && !protocol && c.method !== "HEAD") {
    if (!/application\/json/.test(r.headers.get("content-type") ?? "")) {
      return `HTTP ${r.status} with content-type ${r.headers.get("content-type")}: ${body.slice(0, 200)}`;
    }
    let error: unknown;
    try {
      error = JSON.parse(body).error;
    } catch {
      return `HTTP ${r.status}: the body is not JSON: ${body.slice(0, 200)}`;
    }
    if (typeof error !== "string" || error === "") return `HTTP ${r.status}: no "error" string: ${body.slice(0, 200)}`;
    if (/\n\s+at /.test(error)) return `HTTP ${r.status}: a stack trace in the error: ${error.slice(0, 300)}`;
  }
  if (r.status === 200 && c.method === "POST" && c.path.startsWith("/api/predict")) {
    const out = JSON.parse(body);
    const ok = Number.isInteger(out.class) && out.class >= 0 && out.class <= 9 && out.probabilities?.length === 10 &&
      out.probabilities.every(Number.isFinite);
    if (!ok) return `a prediction that is not a class with 10 finite probabilities: ${body.slice(0, 300)}`;
  }
  return null;
}

/** Runs `tasks` with at most `n` at once, in order of start. */
async function inParallel<T>(n: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  }));
  return out;
}

/** The server's decode pool, recording the size and header's pixels of each body it is handed. */
class RecordingPool extends DecodePool {
  readonly bodies: { bytes: number; pixels: number }[] = [];
  override decode(body: Uint8Array<ArrayBuffer>): Promise<DecodedImage> {
    const { width, height } = readPngHeader(body, "body");
    this.bodies.push({ bytes: body.length, pixels: width * height });
    return super.decode(body);
  }
}

Deno.test("fuzz: the HTTP layer answers every malformed request well-formed, with a JSON error and no stack trace", async () => {
  const seeds = await seedBodies();
  const site = await Deno.makeTempDir({ prefix: "lenet5-fuzz-http-" });
  const decoder = new RecordingPool({ maxPixels: MAX_API_PIXELS });
  const server = await startServer({ port: 0, site, quiet: true, bodyTimeoutMs: BODY_TIMEOUT_MS, decoder });
  const logged: string[] = [], original = console.error;
  try {
    const port = portOf(server.url);
    const good = () =>
      fetch(`${server.url}api/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ pixels: seeds.pixels[0] }),
      }).then((r) => r.json());
    const before = await good();
    console.error = (...args: unknown[]) => logged.push(args.map(String).join(" "));
    const failures: string[] = [];
    const statuses = new Map<number | string, number>();
    for (const seed of SEEDS) {
      const rng = new Rng(seed);
      const cases = Array.from({ length: CASES }, () => randomCase(rng, seeds));
      await inParallel(
        PARALLEL,
        cases.map((c, i) => async () => {
          const where = `seed ${seed} case ${i} (${JSON.stringify(text(c.bytes.subarray(0, 160)))})`;
          try {
            const out = await rawRequest(port, c.bytes, { timeoutMs: HANG_MS, head: c.method === "HEAD" });
            if (out.timedOut) failures.push(`${where}: no answer and the connection still open after ${HANG_MS} ms`);
            const key = out.response?.status ?? "closed";
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
            const problem = out.response && problemOf(c, out.response);
            if (problem) failures.push(`${where}: ${problem}`);
          } catch (e) {
            if (!(e instanceof MalformedResponse)) throw e;
            failures.push(`${where}: a malformed response: ${e.message}`);
          }
        }),
      );
    }
    console.error = original;
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} failures`);
    assert.deepEqual(logged.slice(0, 5), [], "the server logged while fuzzed");
    // Every kind of answer was reached: the fuzzing is not all refused at the door.
    for (const s of [200, 400, 404, 405, 408, 413, 415, 422]) assert.ok(statuses.has(s), `no ${s} in ${[...statuses]}`);
    assert.deepEqual(await good(), before, "a good request answers as before");
    assert.equal(decoder.pending, 0, "bodies left in the decode pool");
    assert.ok(decoder.bodies.length <= SEEDS.length * CASES, `${decoder.bodies.length} bodies decoded`);
    for (const { bytes, pixels } of decoder.bodies) {
      assert.ok(bytes <= MAX_BODY_BYTES && pixels <= MAX_API_PIXELS, `a body of ${bytes} bytes, ${pixels} pixels`);
    }
  } finally {
    console.error = original;
    await server.close();
    await Deno.remove(site, { recursive: true });
  }
});
