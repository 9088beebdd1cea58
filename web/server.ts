/**
 * The page's server (what `deno task web`, cli/web.ts, runs): startServer
 * builds the site (web/build.ts) into a folder and serves it on 127.0.0.1
 * with `Deno.serve`, with an HTTP API beside it:
 *
 *   GET  /api/models    the models: name, file, test error, command
 *   GET  /mnist/NAME    the four MNIST idx files of the npm package (the Train tab's data)
 *   POST /api/predict   a PNG (made MNIST-like first) or JSON {"pixels": [784 grey
 *                       levels], "model": NAME}, the model also as `?model=NAME`;
 *                       returns class, probabilities, distances (the scores), backend, model
 *
 * Every GET also answers HEAD (the headers alone). The site's files are the
 * regular files below its folder: a symlink (anywhere on the path), a FIFO,
 * a device or a socket is not served, and never opened. PNG bodies are
 * decoded and made MNIST-like by a pool of workers (web/decode_pool.ts), so
 * the server's thread keeps answering while they decode.
 *
 * Limits and statuses; every refusal is JSON `{"error": "..."}` naming the problem:
 *
 *   400  a body that cannot be read (a broken chunked encoding) or is neither a
 *        PNG nor JSON, a PNG that cannot be read (no PNG signature, ...), JSON
 *        pixels that are not 784 grey levels 0..255, an unknown model, `?model=`
 *        and a JSON "model" that differ; a path with bad percent-encoding or a
 *        control character (`%00`)
 *   404  no such file or API; a path with a segment over 255 bytes, an empty
 *        segment, one starting with "." (".", "..", the folder's lock and
 *        manifest), or a trailing "/" (but "/"); a symlink, FIFO, device or
 *        socket in the site folder
 *   405  a method the path does not take; the Allow header lists those it does
 *   408  a body not all arrived within BODY_TIMEOUT_MS (10 s)
 *   413  a body over MAX_BODY_BYTES (1 MiB); a PNG of more than MAX_API_PIXELS
 *        (2048 x 2048), refused from its header before anything is inflated
 *   414  a path and query over MAX_URL_BYTES (8 KiB)
 *   415  a content-type other than image/png or application/json (a PNG is
 *        also told by its signature); a content-encoding other than identity
 *   422  a picture with no ink: a PNG in which mnistify finds none (blank,
 *        fully transparent, a single pixel), JSON pixels all the same
 *   500  a model whose output is not finite (the message names it), or an
 *        unexpected error (logged as one line: method, path, message)
 *   503  the PNG decoders are busy: the queue of 16 PNGs waiting for the
 *        workers is full, or decoding one took over 10 s (with Retry-After)
 *
 * Deno.serve closes no connection whose request headers or body never finish
 * (a body that stops gets its 408, but its connection stays open until the
 * client closes it): the server listens on 127.0.0.1, and a proxy with its own
 * timeouts belongs in front of it anywhere else.
 *
 * @module
 */
import { extname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import * as ort from "onnxruntime-web";
import { notRegularFile, readFileBounded } from "../data/files.ts";
import { concatBytes } from "../data/idx.ts";
import { isBlank } from "../data/mnistify.ts";
import { mnistPackageDir } from "../data/mnist.ts";
import { MNIST_FILE_NAMES } from "../data/split.ts";
import { firstNonFiniteAnswer } from "../engine/finite.ts";
import { grouped } from "../engine/limits.ts";
import { ImageError, readPngHeader } from "../data/images.ts";
import type { FolderLock } from "../data/out_folder.ts";
import { buildSite, claimSite, type ShippedModel, shippedModels } from "./build.ts";
import { DecodeBusyError, DecodePool } from "./decode_pool.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url));

const MIME: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".png": "image/png",
  ".svg": "image/svg+xml",
};

/** The largest request body the API reads. */
export const MAX_BODY_BYTES = 1 << 20;

/**
 * The most pixels a PNG posted to the API may have: 4 megapixels (2048 x
 * 2048), far more than a digit needs. A larger one is refused (413) from its
 * header, before anything is inflated; files given to the commands have
 * MAX_PNG_SIDE and MAX_PNG_BYTES (data/images.ts) instead.
 */
export const MAX_API_PIXELS = 2048 * 2048;

/** Milliseconds a request body may take to arrive; a later one gets 408. */
export const BODY_TIMEOUT_MS = 10_000;

/** The longest path and query answered; a longer one gets 414. */
export const MAX_URL_BYTES = 8192;

/** The longest name a path segment may have (the file system's): a longer one is no file (404). */
const MAX_SEGMENT_BYTES = 255;

/** The largest .onnx file a model may have: 256 MiB (a model of 50,000,000 float32 parameters takes 200 MB). */
const MAX_ONNX_BYTES = 2 ** 28;

/** The Allow header of each kind of path. */
const ALLOW = { files: "GET, HEAD", predict: "POST" };

/** A request the API refuses: its status, message and any headers (Allow, Retry-After). */
class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const json = (data: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(data), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });

/**
 * The body, read up to MAX_BODY_BYTES: a longer one is refused as soon as it
 * passes the limit, one that has not all arrived after `timeoutMs` gets 408
 * (its reader is cancelled), a compressed one 415.
 */
async function readBody(req: Request, timeoutMs: number): Promise<Uint8Array<ArrayBuffer>> {
  const encoding = (req.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity") {
    throw new ApiError(415, `content-encoding ${encoding} is not supported: send the body uncompressed (identity)`);
  }
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > MAX_BODY_BYTES) throw new ApiError(413, `the body holds ${declared} bytes, over the limit of 1 MB`);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  let late = false;
  const timer = setTimeout(() => {
    late = true;
    reader.cancel().catch(() => {});
  }, timeoutMs);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (late) throw new ApiError(408, `the body did not arrive within ${timeoutMs / 1000} s`);
      if (done) break;
      size += value.length;
      if (size > MAX_BODY_BYTES) throw new ApiError(413, "the body is over the limit of 1 MB");
      chunks.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    if (e instanceof ApiError) throw e;
    throw new ApiError(400, `the body could not be read: ${(e as Error)?.message ?? e}`);
  } finally {
    clearTimeout(timer);
  }
  return concatBytes(chunks);
}

/** onnxruntime-web sessions (WebAssembly, one thread) per model, each run after the one before. */
export class Predictor {
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();
  #queue: Promise<unknown> = Promise.resolve();

  /** The models and the folder their .onnx paths are relative to (default the shipped models/). */
  constructor(readonly models: readonly ShippedModel[], readonly dir: string = join(ROOT, "models")) {
    ort.env.wasm.numThreads = 1;
  }

  #session(m: ShippedModel): Promise<ort.InferenceSession> {
    if (!this.#sessions.has(m.name)) {
      const path = join(this.dir, m.onnx);
      const session = readFileBounded(path, MAX_ONNX_BYTES, (problem) => {
        throw new Error(`Cannot read model "${m.name}" from "${path}": ${problem}`);
      }).then((b) => ort.InferenceSession.create(b));
      this.#sessions.set(m.name, session);
      session.catch(() => this.#sessions.delete(m.name)); // tried again on the next request
    }
    return this.#sessions.get(m.name)!;
  }

  /** The model called `name` (undefined: the first); an unknown name is a 400. */
  model(name: string | undefined): ShippedModel {
    const m = name === undefined ? this.models[0] : this.models.find((x) => x.name === name);
    if (!m) {
      const names = this.models.map((x) => x.name).join(", ");
      throw new ApiError(400, `field "model": unknown model "${name}"; models: ${names}`);
    }
    return m;
  }

  /** Class, probabilities and scores of one 28x28 image (grey levels 0..255, 0 = background) by model `m`. */
  predict(m: ShippedModel, image: Uint8Array) {
    const run = this.#queue.then(async () => {
      const session = await this.#session(m);
      const out = await session.run({ image: new ort.Tensor("uint8", image, [1, 28, 28]) });
      const probabilities = out.probabilities.data as Float32Array, distances = out.scores.data as Float32Array;
      const bad = firstNonFiniteAnswer(distances, probabilities, distances.length);
      if (bad) {
        const what = `its ${bad.output} ${bad.class} is ${bad.value}`;
        throw new ApiError(500, `model "${m.name}" gave a non-finite output for this image: ${what}`);
      }
      return {
        class: Number((out.class.data as BigInt64Array)[0]),
        probabilities: Array.from(probabilities),
        distances: Array.from(distances),
        backend: "wasm",
        model: m.name,
      };
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    for (const s of this.#sessions.values()) await (await s.catch(() => null))?.release();
  }
}

/** What the handler serves with. */
export interface Services {
  /** The models' sessions. */
  readonly predictor: Predictor;
  /** The workers that decode PNG bodies. */
  readonly decoder: DecodePool;
  /** Milliseconds a request body may take to arrive (default BODY_TIMEOUT_MS). */
  readonly bodyTimeoutMs?: number;
}

/** The 28x28 image of a PNG body, made MNIST-like by the decode pool; refused (413) from its header when too large. */
async function pngImage(body: Uint8Array<ArrayBuffer>, decoder: DecodePool): Promise<Uint8Array> {
  try {
    const { width, height } = readPngHeader(body, "request body");
    if (width * height > MAX_API_PIXELS) {
      const pixels = grouped(width * height), limit = grouped(MAX_API_PIXELS);
      throw new ApiError(
        413,
        `the image is ${width}x${height} pixels (${pixels}), more than the limit of ${limit} (2048x2048, MAX_API_PIXELS): scale it down, a digit needs far fewer`,
      );
    }
    const decoded = await decoder.decode(body);
    if (decoded.noInk) throw new ApiError(422, `the picture holds no ink: ${decoded.noInk}`);
    return decoded.image;
  } catch (e) {
    if (e instanceof ImageError) throw new ApiError(400, e.message);
    if (e instanceof DecodeBusyError) {
      throw new ApiError(503, `the server is busy: ${e.message}`, { "retry-after": "1" });
    }
    throw e;
  }
}

/** The 28x28 image of JSON pixels (not yet checked for ink), and the model the body names. */
function jsonImage(body: Uint8Array): { image: Uint8Array; model?: string } {
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new ApiError(400, "the body is neither a PNG image nor JSON");
  }
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new ApiError(400, 'the JSON body must be an object {"pixels": [784 grey levels 0..255]}');
  }
  const { pixels, model } = data as { pixels?: unknown; model?: unknown };
  if (!Array.isArray(pixels) || pixels.length !== 784) {
    const got = Array.isArray(pixels) ? `${pixels.length} values` : typeof pixels;
    throw new ApiError(400, `field "pixels" must be a list of 784 grey levels (28x28, row by row), got ${got}`);
  }
  const bad = pixels.findIndex((v) => typeof v !== "number" || !(v >= 0 && v <= 255));
  if (bad >= 0) {
    const v = pixels[bad], shown = typeof v === "number" ? v : JSON.stringify(v);
    throw new ApiError(400, `field "pixels": value ${bad} is ${shown}, expected 0..255`);
  }
  if (model !== undefined && typeof model !== "string") throw new ApiError(400, 'field "model" must be a model name');
  return { image: Uint8Array.from(pixels as number[], (v) => Math.round(v)), model: model as string | undefined };
}

/**
 * The 28x28 image of a predict request, a PNG body (made MNIST-like) or JSON
 * pixels, and the model asked for; the request is checked (400) before the
 * picture is looked at for ink (422).
 */
async function imageOf(
  req: Request,
  url: URL,
  services: Services,
): Promise<{ image: Uint8Array; model: ShippedModel }> {
  const body = await readBody(req, services.bodyTimeoutMs ?? BODY_TIMEOUT_MS);
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  const query = url.searchParams.get("model") ?? undefined;
  if (type === "image/png" || (body[0] === 0x89 && body[1] === 0x50)) {
    const model = services.predictor.model(query);
    return { image: await pngImage(body, services.decoder), model };
  }
  if (type !== "application/json" && type !== "") {
    throw new ApiError(415, `content-type ${type} is not image/png or application/json`);
  }
  const { image, model: named } = jsonImage(body);
  if (query !== undefined && named !== undefined && query !== named) {
    throw new ApiError(400, `the query asks for model "${query}" and the JSON body for model "${named}": give one`);
  }
  const model = services.predictor.model(named ?? query);
  if (isBlank(image)) throw new ApiError(422, `the picture holds no ink: all 784 pixels are grey level ${image[0]}`);
  return { image, model };
}

/**
 * Headers that make the page cross-origin isolated (everything it loads is
 * its own), so it has SharedArrayBuffer: the engine's WebAssembly kernels and
 * pausing the training worker need it.
 */
const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

/** The request's path, percent-decoded: 414 when the URL is too long, 400 for bad encoding or a control character. */
function decodedPath(url: URL): string {
  const bytes = url.pathname.length + url.search.length; // both percent-encoded ASCII
  if (bytes > MAX_URL_BYTES) {
    const got = grouped(bytes), limit = grouped(MAX_URL_BYTES);
    throw new ApiError(414, `the path and query hold ${got} bytes, over the limit of ${limit}`);
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    throw new ApiError(400, `the path ${url.pathname} is not valid percent-encoding`);
  }
  for (const c of path) {
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) throw new ApiError(400, `the path ${url.pathname} holds a control character`);
  }
  return path;
}

/** Where `path` is, when it is no symlink: its lstat, or null when there is no such file. */
async function lstatOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.lstat(path);
  } catch (e) {
    const none = e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory ||
      e instanceof Deno.errors.PermissionDenied || (e as { code?: string }).code === "ENAMETOOLONG";
    if (none) return null;
    throw e;
  }
}

/**
 * A regular file's response: its headers alone for HEAD; for GET it is
 * opened and must still be the file `info` describes (a file swapped in
 * between the look and the open is not served): null otherwise.
 */
async function fileResponse(path: string, info: Deno.FileInfo, method: string, type: string) {
  const headers = { "content-type": type, "content-length": `${info.size}`, ...ISOLATED };
  if (method === "HEAD") return new Response(null, { headers });
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) return null; // gone, or not ours
    throw e;
  }
  const opened = await file.stat();
  if (!opened.isFile || opened.ino !== info.ino || opened.dev !== info.dev) {
    file.close();
    return null;
  }
  return new Response(file.readable, { headers: { ...headers, "content-length": `${opened.size}` } });
}

/** One of the four MNIST files, from the npm package (the Train tab downloads them once and keeps them). */
async function mnistFile(name: string, method: string): Promise<Response> {
  if (!(Object.values(MNIST_FILE_NAMES) as string[]).includes(name)) {
    throw new ApiError(404, `no MNIST file ${name}; there are ${Object.values(MNIST_FILE_NAMES).join(", ")}`);
  }
  const path = join(await mnistPackageDir(), name);
  const info = await Deno.stat(path); // the package's own file, through any symlink of the npm cache
  const problem = notRegularFile(info);
  if (problem) throw new Error(`Cannot serve "${path}": ${problem}`);
  const response = await fileResponse(path, info, method, "application/octet-stream");
  if (!response) throw new Error(`Cannot serve "${path}": it changed while being opened`);
  return response;
}

/**
 * A file of the site: each segment of the path must name a folder (the
 * last, a regular file) that is no symlink, looked at with lstat before
 * anything is opened, so a FIFO or a device is never opened.
 */
async function siteFile(site: string, path: string, method: string): Promise<Response> {
  const missing = () => new ApiError(404, `no file ${path}`);
  const parts = (path === "/" ? "/index.html" : path).slice(1).split("/");
  // No name of the site starts with "."; the folder's bookkeeping (its lock, its manifest, temporaries) does.
  if (parts.some((p) => p === "" || p.startsWith("."))) throw missing();
  if (parts.some((p) => new TextEncoder().encode(p).length > MAX_SEGMENT_BYTES)) throw missing();
  let file = site, info: Deno.FileInfo | null = null;
  for (const part of parts) {
    file = join(file, part);
    info = await lstatOrNull(file);
    if (!info || info.isSymlink) throw missing();
  }
  if (!info?.isFile) throw missing();
  const response = await fileResponse(file, info, method, MIME[extname(file)] ?? "application/octet-stream");
  if (!response) throw missing(); // swapped between the look and the open
  return response;
}

/** The request handler: the API, then the site's files from `site`. */
export function handler(site: string, services: Services) {
  const { predictor } = services;
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    try {
      const path = decodedPath(url), get = req.method === "GET" || req.method === "HEAD";
      if (url.pathname === "/api/models") {
        if (!get) throw new ApiError(405, "GET or HEAD /api/models", { allow: ALLOW.files });
        return json(predictor.models);
      }
      if (url.pathname === "/api/predict") {
        if (req.method !== "POST") {
          throw new ApiError(405, "POST a PNG or JSON to /api/predict", { allow: ALLOW.predict });
        }
        const { image, model } = await imageOf(req, url, services);
        return json(await predictor.predict(model, image));
      }
      if (url.pathname.startsWith("/api/")) {
        throw new ApiError(404, `no API ${url.pathname}; try /api/models or /api/predict`);
      }
      if (!get) throw new ApiError(405, `${req.method} on a static file`, { allow: ALLOW.files });
      if (path.startsWith("/mnist/")) return await mnistFile(path.slice("/mnist/".length), req.method);
      return await siteFile(site, path, req.method);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status === 500) {
        // One line, no stack: a request that finds a bug must not flood the log.
        const message = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ");
        console.error(`error: ${req.method} ${url.pathname}: ${message}`);
      }
      if (e instanceof ApiError) return json({ error: e.message }, e.status, e.headers);
      return json({ error: "internal error" }, 500);
    }
  };
}

/**
 * Serves the site folder `site` with the API on 127.0.0.1:`port` (0: any
 * free port) until closed. The port is bound first, so a port in use is an
 * error before anything is written; then the folder's lock is taken and held
 * until close (a second server or build of the folder fails at once, naming
 * this one), and the site is built into it (buildSite: a folder holding
 * files no build of ours wrote is refused unless `force`). Requests that
 * come before the build is done wait for it.
 */
export async function startServer(
  options: {
    port: number;
    site: string;
    quiet?: boolean;
    force?: boolean;
    command?: string;
    /** The PNG decoders (default: a DecodePool of its default size for MAX_API_PIXELS); closed with the server. */
    decoder?: DecodePool;
    /** Milliseconds a request body may take to arrive (default BODY_TIMEOUT_MS). */
    bodyTimeoutMs?: number;
  },
) {
  const decoder = options.decoder ?? new DecodePool({ maxPixels: MAX_API_PIXELS });
  const ready = Promise.withResolvers<(req: Request) => Promise<Response>>();
  ready.promise.catch(() => {}); // a failed start: the server is shut down and the error thrown below
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve(
      { hostname: "127.0.0.1", port: options.port, onListen: () => {} },
      async (req) => (await ready.promise)(req),
    );
  } catch (e) {
    const why = e instanceof Deno.errors.AddrInUse
      ? "the port is in use (another server?); pass --port N"
      : (e as Error).message;
    throw new Error(`Cannot serve on 127.0.0.1:${options.port}: ${why}`);
  }
  let lock: FolderLock | undefined, predictor: Predictor;
  try {
    lock = await claimSite(options.site, options);
    await buildSite(options.site, { lock, force: options.force });
    predictor = new Predictor(await shippedModels());
  } catch (e) {
    ready.reject(e);
    await server.shutdown();
    decoder.close();
    lock?.release();
    throw e;
  }
  ready.resolve(handler(options.site, { predictor, decoder, bodyTimeoutMs: options.bodyTimeoutMs }));
  const url = `http://127.0.0.1:${server.addr.port}/`;
  if (!options.quiet) console.log(`LeNet-5 page: ${url}  (API: ${url}api/models, ${url}api/predict)`);
  return {
    url,
    async close() {
      try {
        await server.shutdown();
        decoder.close();
        await predictor.close();
      } finally {
        lock.release();
      }
    },
  };
}
