/**
 * The static site of the page (`deno task web:build`, and what `deno task web`
 * serves): web/app.ts and its workers bundled by esbuild, index.html,
 * style.css, the service worker, onnxruntime-web's WebAssembly files, and per
 * shipped model its model.json, its raw-input .onnx and an .onnx with the
 * layers' activations as outputs (for the pictures).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import * as esbuild from "esbuild";
import { defaultRegistry } from "../builtins.ts";
import { fileProblem } from "../data/files.ts";
import {
  checkFolderIsOurs,
  claimFolder,
  FolderBusyError,
  type FolderKind,
  type FolderLock,
  FolderNotOursError,
  writeFolderAtomic,
} from "../data/out_folder.ts";
import { modelFromJSON, readJSONFile } from "../engine/model_file.ts";
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
  /** The record of that run in docs/runs/ (without .json): its commit, CPU, day and every pass. */
  readonly record: string;
  /**
   * The same recipe on seeds that played no part in choosing it: the records (`prefix-seedA..B`, in docs/runs/) and
   * their test errors' mean, sample standard deviation and range, 0..1, rounded to 6 decimals.
   */
  readonly freshSeeds?: {
    readonly records: string;
    readonly mean: number;
    readonly sd: number;
    readonly min: number;
    readonly max: number;
  };
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

/** The kind of folder a site build writes: its manifest, `.lenet5-site.json`, lists the site's files. */
export const SITE_FOLDER: FolderKind = { what: "the site", manifest: ".lenet5-site.json", format: "lenet5-ts/site" };

/** How buildSite writes its folder. */
export interface BuildOptions {
  /** Write into a folder holding files no build of ours wrote: the site's replace theirs of the same name. */
  readonly force?: boolean;
  /** The folder's lock when the caller holds it (claimSite); otherwise buildSite takes it for the build. */
  readonly lock?: FolderLock;
  /** The command line the lock file names. */
  readonly command?: string;
}

/**
 * Takes the lock of the site folder `out` (made if need be), after checking
 * that it is ours (refused with FolderNotOursError otherwise, unless
 * `force`): for a caller that builds and then serves it, as `deno task web`.
 */
export async function claimSite(out: string, options: Omit<BuildOptions, "lock"> = {}): Promise<FolderLock> {
  await checkFolderIsOurs(out, SITE_FOLDER, options.force);
  return await claimFolder(out, options.command);
}

/**
 * Builds the site into `out`: app.js (web/app.ts and what it imports,
 * onnxruntime-web's WebGPU bundle included), index.html, style.css, the
 * WebAssembly file, and per shipped model its model.json, its raw-input
 * .onnx and an .onnx with the layers' activations as outputs (for the
 * pictures). The build is atomic (writeFolderAtomic): everything is written
 * into a temporary folder inside `out`, then renamed into place, so a
 * failure leaves `out` as it was; a folder holding anything a build of ours
 * did not write is refused (FolderNotOursError) unless `force`, and one
 * another command is writing, with FolderBusyError. Any other failure is an
 * Error whose message names the folder, in one line.
 */
export async function buildSite(out: string, options: BuildOptions = {}): Promise<void> {
  try {
    await writeFolderAtomic(out, writeSite, SITE_FOLDER, options);
  } catch (e) {
    if (e instanceof FolderNotOursError || e instanceof FolderBusyError) throw e;
    throw new Error(`Cannot build the site in "${out}": ${buildProblem(e)}`);
  }
}

/** A failure of the build in one line: esbuild's errors, or the OS's words without the paths. */
function buildProblem(e: unknown): string {
  const errors = (e as { errors?: { text?: string }[] })?.errors;
  if (Array.isArray(errors) && errors.length) return `esbuild: ${errors.map((x) => x.text).join("; ")}`;
  const line = fileProblem(e).split("\n")[0].replace(/ \(os error \d+\).*$/, "");
  return line.replace(/^[A-Z](?=[a-z ])/, (c) => c.toLowerCase());
}

/** Writes every file of the site into `out`, a new empty folder. */
async function writeSite(out: string): Promise<void> {
  await Deno.mkdir(join(out, "models"));
  const dist = await ortDist();
  try {
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
      logLevel: "silent", // its errors come back in the exception, and buildSite prints them in one line
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
  } finally {
    await esbuild.stop();
  }
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
  const index = models.map((m) => ({ ...m, model: `${m.name}.json`, onnx: `${m.name}.onnx` }));
  await Deno.writeTextFile(join(out, "models", "index.json"), JSON.stringify(index, null, 2));
}
