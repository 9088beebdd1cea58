/**
 * The page: draw a digit (mouse, touch, pen) or drop an image, see the 28x28
 * image MNIST-style normalisation makes of it, and LeNet-5's answer from
 * onnxruntime-web (WebGPU when the browser offers an adapter, else
 * WebAssembly), with pictures of how it decides: the probabilities and RBF
 * distances, F6's 84 outputs beside the codes of the two best classes (the
 * paper's Fig. 3 view), and the feature maps of C1, S2, C3 and S4.
 *
 * Bundled by esbuild (web/build.ts); the engine's own code (mnistify, the
 * export of a dropped model.json) runs here unchanged.
 *
 * @module
 */
/// <reference lib="dom" />
import * as ort from "onnxruntime-web/webgpu";
import { defaultRegistry } from "../builtins.ts";
import { isBlank, mnistify } from "../data/mnistify.ts";
import { preprocess } from "../data/preprocess.ts";
import { modelFromJSON } from "../engine/model_json.ts";
import { firstNonFiniteAnswer } from "../engine/finite.ts";
import { exportOnnx, intermediateName } from "../export/onnx.ts";
import { parseCode } from "../layers/rbf.ts";
import { RBF_CODES } from "../presets/lenet5_data.ts";
import type { ModelFile } from "../engine/model_json.ts";
import { setupTraining, type TrainApi } from "./train.ts";

ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = new URL("./", location.href).href;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const pad = $<HTMLCanvasElement>("pad"), ctx = pad.getContext("2d", { willReadFrequently: true })!;
const status = $<HTMLParagraphElement>("status");

/** What the page last computed: read by the tests, and handy in the console. */
interface Last {
  input: number[];
  class: number;
  probabilities: number[];
  distances: number[];
  backend: string;
  model: string;
  ms: number;
}
const page = {
  ready: null as Promise<void> | null,
  last: null as Last | null,
  backend: "",
  adapter: "",
  /** Runs the current model on a 28x28 image (grey levels, 0 = background), as drawing does. */
  predict: (image: Uint8Array) => predict(image),
  /** The Train tab (web/train.ts). */
  train: null as TrainApi | null,
  /** Shows a tab: "draw" or "train". */
  tab: (name: "draw" | "train") => showTab(name),
};
(globalThis as unknown as { lenet5: typeof page }).lenet5 = page;

// ---------------------------------------------------------------- models and sessions

interface ModelEntry {
  name: string;
  title: string;
  testError?: number;
  /** The .onnx to run: raw uint8 images in, the layers' activations among the outputs. */
  bytes: () => Promise<Uint8Array>;
}
const models: ModelEntry[] = [];
let current: ModelEntry | null = null;
let session: ort.InferenceSession | null = null;
let sessionKey = "";

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`Cannot load ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function getSession(): Promise<ort.InferenceSession> {
  const key = `${current!.name}|${page.backend}`;
  if (session && sessionKey === key) return session;
  const old = session;
  session = null;
  await old?.release();
  status.textContent = `Loading ${current!.name} on ${page.backend}…`;
  session = await ort.InferenceSession.create(await current!.bytes(), { executionProviders: [page.backend] });
  sessionKey = key;
  return session;
}

// ---------------------------------------------------------------- prediction

const outputOf = (out: ort.InferenceSession.OnnxValueMapType, name: string) => out[name] as ort.Tensor | undefined;

/** One prediction at a time, in the order asked: onnxruntime-web runs one call per session at once. */
let chain: Promise<unknown> = Promise.resolve();
function predict(image: Uint8Array): Promise<Last> {
  const next = chain.then(() => predictNow(image));
  chain = next.catch(() => {});
  return next;
}

/** The outputs of `s` for one 28x28 image; an error naming the model if a score or probability is not finite. */
async function runSession(s: ort.InferenceSession, image: Uint8Array, title: string) {
  const input = s.inputNames[0];
  const feed = input === "image"
    ? new ort.Tensor("uint8", image, [1, 28, 28])
    : new ort.Tensor("float32", preprocess(image, 1, 28, 28), [1, 1, 32, 32]); // the paper's: pad, -0.1..1.175
  const out = await s.run({ [input]: feed });
  const probabilities = Array.from(outputOf(out, "probabilities")!.data as Float32Array);
  const distances = Array.from(outputOf(out, "scores")!.data as Float32Array);
  const bad = firstNonFiniteAnswer(distances, probabilities, distances.length);
  if (bad) {
    throw new Error(
      `Cannot trust ${title}: its ${bad.output} for digit ${bad.class} is ${bad.value} (are its weights too large?)`,
    );
  }
  return { out, probabilities, distances };
}

async function predictNow(image: Uint8Array): Promise<Last> {
  if (isBlank(image)) {
    clearAnswer();
    throw new Error("Cannot read the picture: it holds no ink (every pixel is the same grey level)");
  }
  const s = await getSession();
  const t0 = performance.now();
  let result;
  try {
    result = await runSession(s, image, current!.title);
  } catch (e) {
    clearAnswer();
    throw e;
  }
  const { out, probabilities, distances } = result;
  const ms = performance.now() - t0;
  const last: Last = {
    input: Array.from(image),
    class: Number((outputOf(out, "class")!.data as BigInt64Array)[0]),
    probabilities,
    distances,
    backend: page.backend,
    model: current!.name,
    ms,
  };
  page.last = last;
  showAnswer(last);
  showInside(out, last);
  const adapter = page.backend === "webgpu" && page.adapter ? ` (${page.adapter})` : "";
  status.textContent = `${current!.title}: ${ms.toFixed(1)} ms on ${page.backend}${adapter}`;
  return last;
}

/** The drawing (white ink on black) as an MNIST-style 28x28 image, or null when nothing is drawn. */
function padImage(): Uint8Array | null {
  const { data, width, height } = ctx.getImageData(0, 0, pad.width, pad.height);
  const grey = new Uint8Array(width * height);
  for (let i = 0; i < grey.length; i++) grey[i] = data[4 * i];
  const m = mnistify(grey, width, height);
  return m.box ? m.image : null;
}

/** No answer on screen: the digit, the bars and the pictures of how it decided are cleared. */
function clearAnswer(): void {
  page.last = null;
  $("digit").textContent = "–";
  $("bars").replaceChildren();
  $("f6").replaceChildren();
  $("maps").replaceChildren();
}

let pending = false, again = false;
/** Predicts from the drawing, at most one run at a time (the last drawing wins). */
async function update(): Promise<void> {
  if (pending) {
    again = true;
    return;
  }
  pending = true;
  try {
    const image = padImage();
    drawGrey($<HTMLCanvasElement>("input28"), image ?? new Uint8Array(784), 28, 28);
    if (image) await predict(image);
    else {
      clearAnswer();
      status.textContent = `${current?.title ?? "The model"}: draw a digit.`;
    }
  } catch (e) {
    status.textContent = `error: ${(e as Error).message}`;
    console.warn(e);
  } finally {
    pending = false;
    if (again) {
      again = false;
      setTimeout(update, 0);
    }
  }
}

// ---------------------------------------------------------------- pictures

function drawGrey(canvas: HTMLCanvasElement, values: ArrayLike<number>, w: number, h: number, lo = 0, hi = 255) {
  canvas.width = w, canvas.height = h;
  const c = canvas.getContext("2d")!;
  const img = c.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {
    const g = Math.round(255 * Math.min(1, Math.max(0, (values[i] - lo) / (hi - lo || 1))));
    img.data.set([g, g, g, 255], 4 * i);
  }
  c.putImageData(img, 0, 0);
}

function showAnswer(r: Last): void {
  $("digit").textContent = String(r.class);
  const rows = r.probabilities.map((p, d) => {
    const best = d === r.class ? "best" : "", width = Math.round(160 * p);
    const percent = (100 * p).toFixed(1), score = r.distances[d].toFixed(1);
    return `<tr class="${best}"><td>${d}</td><td><span class="bar" style="width:${width}px"></span></td><td>${percent}%</td><td title="RBF distance or logit">${score}</td></tr>`;
  });
  $("bars").innerHTML = `<tr><th>digit</th><th colspan="2">probability</th><th>score</th></tr>${rows.join("")}`;
}

function figure(caption: string, canvases: HTMLCanvasElement[]): HTMLElement {
  const f = document.createElement("figure"), cap = document.createElement("figcaption");
  cap.textContent = caption;
  f.append(...canvases, cap);
  return f;
}

function grid(values: ArrayLike<number>, w: number, h: number, scale: number, lo: number, hi: number) {
  const c = document.createElement("canvas");
  drawGrey(c, values, w, h, lo, hi);
  c.style.width = `${w * scale}px`, c.style.height = `${h * scale}px`;
  return c;
}

/** The 7x12 RBF code of digit `d` (+1 ink, -1 background), row by row as F6's outputs are drawn. */
const code = (d: number) => parseCode(RBF_CODES[d])!;

function showInside(out: ort.InferenceSession.OnnxValueMapType, r: Last): void {
  const f6 = outputOf(out, intermediateName("F6"));
  const f6Box = $("f6");
  f6Box.replaceChildren();
  if (f6 && f6.data.length === 84) {
    const order = r.probabilities.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0]);
    const best = order[0][1], second = order[1][1];
    f6Box.append(
      figure("F6's 84 outputs (7x12)", [grid(f6.data as Float32Array, 7, 12, 8, -1.7, 1.7)]),
      figure(`code of ${best} (the answer)`, [grid(code(best), 7, 12, 8, -1, 1)]),
      figure(`code of ${second} (runner-up)`, [grid(code(second), 7, 12, 8, -1, 1)]),
    );
  }
  const maps = $("maps");
  maps.replaceChildren();
  for (const name of ["C1", "S2", "C3", "S4"]) {
    const t = outputOf(out, intermediateName(name));
    if (!t || t.dims.length !== 4) continue;
    const [, m, h, w] = t.dims as number[];
    const data = t.data as Float32Array;
    const scale = h >= 20 ? 2 : 4;
    const canvases = Array.from(
      { length: m },
      (_, k) => grid(data.subarray(k * h * w, (k + 1) * h * w), w, h, scale, -1.7, 1.7),
    );
    maps.append(figure(`${name}: ${m} maps of ${h}x${w}`, canvases));
  }
}

// ---------------------------------------------------------------- drawing

type Stroke = [number, number][];
const strokes: Stroke[] = [];
let drawing: Stroke | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;

function redraw(): void {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = 18;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    if (s.length === 1) ctx.arc(s[0][0], s[0][1], 9, 0, 2 * Math.PI), ctx.fill();
    for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

function schedule(): void {
  clearTimeout(timer);
  timer = setTimeout(update, 60);
}

/** The strokes changed: redrawn now, predicted from shortly. */
function changed(): void {
  redraw();
  schedule();
}

function at(e: PointerEvent): [number, number] {
  const r = pad.getBoundingClientRect();
  return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
}

pad.addEventListener("pointerdown", (e) => {
  pad.setPointerCapture(e.pointerId);
  drawing = [at(e)];
  strokes.push(drawing);
  changed();
});
pad.addEventListener("pointermove", (e) => {
  if (!drawing) return;
  drawing.push(at(e));
  changed();
});
for (const end of ["pointerup", "pointercancel"]) {
  pad.addEventListener(end, () => {
    drawing = null;
    schedule();
  });
}
$("clear").addEventListener("click", () => (strokes.length = 0, changed()));
$("undo").addEventListener("click", () => (strokes.pop(), changed()));

// ---------------------------------------------------------------- images and models from the user

async function fromImageFile(file: Blob): Promise<void> {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 1000 / Math.max(bitmap.width, bitmap.height));
  const w = Math.max(1, Math.round(bitmap.width * scale)), h = Math.max(1, Math.round(bitmap.height * scale));
  const c = new OffscreenCanvas(w, h).getContext("2d")!;
  c.fillStyle = "#fff"; // transparent pixels are paper
  c.fillRect(0, 0, w, h);
  c.drawImage(bitmap, 0, 0, w, h);
  const { data } = c.getImageData(0, 0, w, h);
  const grey = new Uint8Array(w * h);
  for (let i = 0; i < grey.length; i++) {
    grey[i] = 0.299 * data[4 * i] + 0.587 * data[4 * i + 1] + 0.114 * data[4 * i + 2];
  }
  const m = mnistify(grey, w, h);
  drawGrey($<HTMLCanvasElement>("input28"), m.image, 28, 28);
  if (!m.box) {
    clearAnswer();
    throw new Error(`Cannot read "${(file as File).name ?? "the picture"}": it holds no ink (it is one grey level)`);
  }
  await predict(m.image);
}

/** Shows an error of something the user gave (a picture, a model) in the status line. */
const showError = (e: Error) => (status.textContent = `error: ${e.message}`);

$<HTMLInputElement>("upload").addEventListener("change", (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) fromImageFile(f).catch(showError);
});
document.addEventListener("paste", (e) => {
  const f = [...(e.clipboardData?.files ?? [])].find((x) => x.type.startsWith("image/"));
  if (f) fromImageFile(f).catch(showError);
});
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => {
  e.preventDefault();
  const f = e.dataTransfer?.files?.[0];
  if (!f) return;
  if (/\.(onnx|json)$/i.test(f.name)) ownModel(f).catch(showError);
  else fromImageFile(f).catch(showError);
});

/**
 * A model the user brings: an .onnx (raw or preprocessed input) or a
 * model.json of this project. It joins the picker only once it loads and
 * gives finite answers; otherwise the error names the file and the model in
 * use stays.
 */
async function ownModel(file: File): Promise<void> {
  const source = `"${file.name}"`;
  let bytes: Uint8Array = new Uint8Array(await file.arrayBuffer());
  try {
    if (/\.json$/i.test(file.name)) {
      let data: unknown;
      try {
        data = JSON.parse(new TextDecoder().decode(bytes));
      } catch (e) {
        throw new SyntaxError(`Cannot load ${source}: it is not JSON (${(e as Error).message.slice(0, 80)})`);
      }
      bytes = onnxOf(data, source);
    }
    await addModel({ name: file.name, title: `your model ${file.name}`, bytes: () => Promise.resolve(bytes) });
  } catch (e) {
    const message = (e as Error).message;
    throw new Error(message.includes(file.name) ? message : `Cannot use your model ${source}: ${message}`);
  }
}

/** Model-file data as the .onnx the page runs: raw uint8 images in, the layers' activations among the outputs. */
function onnxOf(data: unknown, source: string): Uint8Array {
  return exportOnnx(modelFromJSON(data, defaultRegistry, source), { rawInput: "uint8", intermediates: true });
}

/**
 * A model joins the picker and becomes the current one, once onnxruntime
 * loads it and it gives finite answers on the drawing (or a blank image);
 * otherwise it throws and the current model stays.
 */
async function addModel(entry: ModelEntry): Promise<void> {
  const checked = chain.then(async () => {
    const s = await ort.InferenceSession.create(await entry.bytes(), { executionProviders: [page.backend] });
    try {
      await runSession(s, padImage() ?? new Uint8Array(784), entry.title);
    } catch (e) {
      await s.release();
      throw e;
    }
    return s;
  });
  chain = checked.catch(() => {});
  const s = await checked;
  await session?.release();
  session = s;
  sessionKey = `${entry.name}|${page.backend}`;
  models.push(entry);
  const sel = $<HTMLSelectElement>("model");
  sel.add(new Option(entry.title, String(models.length - 1)));
  sel.value = String(models.length - 1);
  current = entry;
  update();
}
$<HTMLInputElement>("own").addEventListener("change", (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) ownModel(f).catch(showError);
});

// ---------------------------------------------------------------- tabs and training

function showTab(name: "draw" | "train"): void {
  $("draw-tab").hidden = name !== "draw";
  $("train-tab").hidden = name !== "train";
  $("tab-draw").setAttribute("aria-selected", String(name === "draw"));
  $("tab-train").setAttribute("aria-selected", String(name === "train"));
}
$("tab-draw").addEventListener("click", () => showTab("draw"));
$("tab-train").addEventListener("click", () => showTab("train"));

/** A model trained in the Train tab joins the picker and becomes the current one. */
function useTrained(m: ModelFile, title: string): void {
  const bytes = onnxOf(m, "the trained model");
  showTab("draw");
  addModel({ name: `trained-${models.length}`, title, bytes: () => Promise.resolve(bytes) }).catch(showError);
}
page.train = setupTraining(useTrained, (m) => onnxOf(m, "the trained model"));

// ---------------------------------------------------------------- start

async function start(): Promise<void> {
  const adapter = await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter().catch(() => null);
  const info = adapter?.info;
  page.adapter = info
    ? [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "an adapter"
    : "";
  const backends = adapter ? ["webgpu", "wasm"] : ["wasm"];
  const sel = $<HTMLSelectElement>("backend");
  for (const b of backends) sel.add(new Option(b === "webgpu" ? `WebGPU (${page.adapter})` : "WebAssembly", b));
  page.backend = backends[0];
  sel.addEventListener("change", () => {
    page.backend = sel.value;
    update();
  });
  const list = await (await fetch("models/index.json")).json() as { name: string; title: string; testError: number }[];
  const msel = $<HTMLSelectElement>("model");
  for (const m of list) {
    models.push({ ...m, bytes: () => fetchBytes(`models/${m.name}.layers.onnx`) });
    msel.add(new Option(`${m.title} (${(100 * m.testError).toFixed(2)}% test error)`, String(models.length - 1)));
  }
  current = models[0];
  msel.addEventListener("change", () => {
    current = models[Number(msel.value)];
    update();
  });
  redraw();
  const first = chain.then(getSession);
  chain = first.catch(() => {});
  await first;
  status.textContent = `Ready: ${current.title} on ${page.backend}. Draw a digit.`;
}
// Offline once loaded: a service worker keeps the page's files (web/sw.js).
navigator.serviceWorker?.register("sw.js").catch((e) => console.warn(`no offline copy: ${e.message}`));

page.ready = start().catch((e) => {
  status.textContent = `error: ${e.message}`;
  throw e;
});
