/**
 * The page's Train tab: downloads MNIST from the server once (kept in the
 * Cache API, checked against the original files' SHA-256), trains a preset
 * in a Web Worker (web/train_worker.ts) with the recipe of `deno task train`,
 * and shows it happen: progress, loss and error curves, the first 100 test
 * digits with the current predictions (mistakes framed in red), and C1's six
 * kernels. The trained model goes to the Draw tab ("Use this model": the
 * engine's ONNX export, run here) and downloads as model.json and .onnx.
 *
 * @module
 */
/// <reference lib="dom" />
import { concatBytes } from "../data/idx.ts";
import { MNIST_FILE_NAMES, MNIST_FILES, sha256Hex } from "../data/split.ts";
import { toBase64 } from "../engine/base64.ts";
import type { PassResult, Progress } from "../engine/fit.ts";
import type { ModelFile } from "../engine/model_json.ts";
import { encodePng } from "../report/png.ts";
import { digitGrid, gridPixels, lineChart } from "../report/svg.ts";
import { PAUSE, RUN, STOP, type TrainRequest } from "./_train_protocol.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** Options of one training run in the page. */
export interface TrainOptions {
  preset: string;
  passes: number;
  seed: number;
  distort: boolean;
  /** Patterns per pass (absent: all 60,000). */
  limit?: number;
}

/** What the tab exposes to the page (and to the tests, as `lenet5.train`). */
export interface TrainApi {
  /** Starts a run; resolves when it ends (done or stopped) with its history and model. */
  run(options: TrainOptions): Promise<TrainResult>;
  pause(): void;
  resume(): void;
  stop(): void;
  /** The model of the last pass (or of the stop), as model-file data. */
  model: ModelFile | null;
  /** Kernels the worker trains on ("wasm" or "js"), its last progress, and the passes so far. */
  kernels: string;
  progress: Progress | null;
  history: PassResult[];
  running: boolean;
}

/** How a run ended. */
export interface TrainResult {
  readonly stopped: boolean;
  readonly history: PassResult[];
  readonly model: ModelFile;
  readonly kernels: string;
  /** Patterns per second of the training, as the worker last measured it. */
  readonly patternsPerSecond: number;
}

const CACHE = "lenet5-mnist-v1";

/**
 * The four MNIST files: from the page's cache, or downloaded from the
 * server (mnist/NAME) with progress, checked and then cached.
 */
async function mnistFiles(onProgress: (got: number, total: number, note: string) => void) {
  const cache = "caches" in globalThis ? await caches.open(CACHE) : null;
  const names = Object.values(MNIST_FILE_NAMES);
  const total = names.reduce((a, n) => a + MNIST_FILES[n].bytes, 0);
  const files: Record<string, ArrayBuffer> = {};
  let got = 0;
  for (const name of names) {
    const url = `mnist/${name}`;
    const cached = await cache?.match(url);
    let bytes: ArrayBuffer;
    if (cached) {
      bytes = await cached.arrayBuffer();
      got += bytes.byteLength;
      onProgress(got, total, "from the cache");
    } else {
      const r = await fetch(url);
      if (!r.ok || !r.body) throw new Error(`Cannot download ${url}: HTTP ${r.status}`);
      const parts: Uint8Array[] = [];
      const reader = r.body.getReader();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        parts.push(chunk.value);
        got += chunk.value.length;
        onProgress(got, total, "downloading");
      }
      bytes = concatBytes(parts).buffer;
      const want = MNIST_FILES[name];
      if (bytes.byteLength !== want.bytes || (await sha256Hex(bytes)) !== want.sha256) {
        throw new Error(`${url} is not the original MNIST file (size or SHA-256 differ)`);
      }
      await cache?.put(url, new Response(bytes.slice(0)));
    }
    files[name] = bytes;
  }
  return files;
}

/** C1's six 5x5 kernels as grey images (white positive, black negative), each scaled by its largest weight. */
function kernelPictures(box: HTMLElement, weights: Float32Array) {
  box.replaceChildren();
  for (let k = 0; k < 6; k++) {
    const w = weights.subarray(k * 25, (k + 1) * 25);
    const m = Math.max(1e-9, ...Array.from(w, Math.abs));
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 5;
    canvas.className = "kernel";
    const c = canvas.getContext("2d")!, img = c.createImageData(5, 5);
    for (let p = 0; p < 25; p++) {
      const v = Math.round(127.5 + (127.5 * w[p]) / m);
      img.data.set([v, v, v, 255], 4 * p);
    }
    c.putImageData(img, 0, 0);
    box.append(canvas);
  }
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const time = (s: number) => (s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`);

/**
 * Wires the Train tab. `useModel` hands a trained model (model-file data) to
 * the Draw tab; `exportOnnx` turns model-file data into .onnx bytes.
 */
export function setupTraining(
  useModel: (model: ModelFile, name: string) => void,
  exportOnnx: (model: ModelFile) => Uint8Array,
): TrainApi {
  const status = $<HTMLParagraphElement>("t-status"), bar = $<HTMLProgressElement>("t-progress");
  const dataBar = $<HTMLProgressElement>("t-data"), dataStatus = $<HTMLSpanElement>("t-data-status");
  const startButton = $<HTMLButtonElement>("t-start"), pauseButton = $<HTMLButtonElement>("t-pause");
  const stopButton = $<HTMLButtonElement>("t-stop");
  const downloads = ["t-use", "t-json", "t-onnx"].map((id) => $<HTMLButtonElement>(id));
  let worker: Worker | null = null, control: Int32Array | null = null, paused = false;
  let testLabels: Uint8Array | null = null, digitsPng = "";
  let lossPoints: [number, number][] = [], runName = "";
  let finish: ((r: TrainResult) => void) | null = null, fail: ((e: Error) => void) | null = null;

  const api: TrainApi = {
    model: null,
    kernels: "",
    progress: null,
    history: [],
    running: false,
    run,
    pause() {
      if (control) Atomics.store(control, 0, PAUSE);
    },
    resume() {
      if (control) {
        Atomics.store(control, 0, RUN);
        Atomics.notify(control, 0);
      }
    },
    stop() {
      if (!worker) return;
      if (control) {
        Atomics.store(control, 0, STOP);
        Atomics.notify(control, 0);
      } else {
        // No shared memory: end the worker now and keep the last pass's model.
        worker.terminate();
        end(true);
      }
    },
  };

  function drawCurves() {
    const size = { width: 360, height: 180 };
    $("t-loss").innerHTML = lineChart(
      [{ name: "running loss", color: "#0366d6", points: lossPoints }],
      { xLabel: "patterns", yLabel: "loss", ...size },
    );
    $("t-error").innerHTML = lineChart(
      [
        { name: "test error", color: "#d00", points: api.history.map((h) => [h.pass, 100 * h.testError]) },
        { name: "training error", color: "#0a0", points: api.history.map((h) => [h.pass, 100 * h.trainError]) },
      ],
      { xLabel: "passes", yLabel: "error (%)", integerX: true, yUnit: "%", ...size },
    );
  }

  /** The first 100 test digits in a 10x10 grid, mistakes framed in red with the prediction. */
  function drawDigits(predictions: Int32Array | null) {
    if (!testLabels) return;
    const cells = Array.from(testLabels, (label, i) => ({ label, predicted: predictions?.[i] }));
    $("t-digits").innerHTML = digitGrid(digitsPng, cells, { columns: 10, side: 28, scale: 1, compact: true });
  }

  function end(stopped: boolean) {
    worker?.terminate();
    worker = null;
    api.running = false;
    startButton.disabled = false;
    pauseButton.disabled = stopButton.disabled = true;
    pauseButton.textContent = "Pause";
    for (const b of downloads) b.disabled = api.model === null;
    const last = api.history[api.history.length - 1], verb = stopped ? "Stopped" : "Done";
    const result = last ? `: test error ${pct(last.testError)} after pass ${last.pass}` : "";
    status.textContent = `${verb}${result} (${api.kernels} kernels). "Use this model" takes it to the Draw tab.`;
    if (api.model && finish) {
      const patternsPerSecond = api.progress?.patternsPerSecond ?? 0;
      finish({ stopped, history: api.history, model: api.model, kernels: api.kernels, patternsPerSecond });
    }
    finish = fail = null;
  }

  async function run(options: TrainOptions): Promise<TrainResult> {
    if (api.running) throw new Error("a run is going on: stop it first");
    api.running = true;
    api.history = [];
    api.progress = null;
    api.model = null;
    lossPoints = [];
    startButton.disabled = true;
    for (const b of downloads) b.disabled = true;
    const done = new Promise<TrainResult>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    try {
      const files = await mnistFiles((got, total, note) => {
        dataBar.value = got / total;
        dataStatus.textContent = `MNIST ${note}: ${(got / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
      });
      dataStatus.textContent = "MNIST: 60,000 training and 10,000 test digits, kept in this browser";
      const N = MNIST_FILE_NAMES;
      const testImages = new Uint8Array(files[N.testImages], 16, 100 * 784);
      const grid = gridPixels(testImages, 28, Array.from({ length: 100 }, (_, i) => i), 10, 0);
      digitsPng = toBase64(await encodePng(grid.pixels, grid.width, grid.height, 1));
      testLabels = new Uint8Array(files[N.testLabels], 8, 100).slice();
      drawDigits(null);
      runName = `trained in this tab (${options.preset}, seed ${options.seed})`;
      control = typeof SharedArrayBuffer === "function" ? new Int32Array(new SharedArrayBuffer(4)) : null;
      paused = false;
      pauseButton.disabled = control === null;
      pauseButton.title = control ? "" : "pausing needs a cross-origin-isolated page";
      stopButton.disabled = false;
      worker = new Worker(new URL("./train_worker.js", location.href), { type: "module" });
      worker.onmessage = (e) => onMessage(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        fail?.(new Error(e.message));
        end(true);
      };
      const shared = control ? control.buffer as SharedArrayBuffer : null;
      const request: TrainRequest = { kind: "train", ...options, files, control: shared };
      worker.postMessage(request, Object.values(files));
      status.textContent = "Starting…";
    } catch (e) {
      status.textContent = `error: ${(e as Error).message}`;
      fail?.(e as Error);
      end(true);
    }
    return done;
  }

  function onMessage(m: { kind: string; [k: string]: unknown }) {
    if (m.kind === "start") {
      api.kernels = m.kernels as string;
      $<HTMLPreElement>("t-recipe").textContent = m.recipe as string;
      const parameters = (m.parameters as number).toLocaleString("en-US");
      status.textContent = `Training ${parameters} parameters on ${api.kernels} kernels…`;
    } else if (m.kind === "progress") {
      const p = m as unknown as Progress;
      api.progress = p;
      bar.value = (p.pass - 1 + p.done / p.total) / p.passes;
      lossPoints.push([(p.pass - 1) * p.total + p.done, p.runningLoss]);
      status.textContent = `pass ${p.pass}/${p.passes}, ${p.done.toLocaleString("en-US")}/${
        p.total.toLocaleString("en-US")
      } patterns, ${Math.round(p.patternsPerSecond).toLocaleString("en-US")} patterns/s, ETA ${time(p.eta)}, loss ${
        p.runningLoss.toFixed(4)
      }, running error ${pct(p.runningError)}${paused ? " (paused)" : ""}`;
      drawCurves();
    } else if (m.kind === "pass") {
      const h = m.result as PassResult;
      api.history.push(h);
      api.model = m.model as ModelFile;
      // The run's loss curve (a point every few thousand patterns) replaces the progress points once it has any.
      const curve = m.lossCurve as { patterns: number; loss: number }[];
      if (curve.length > 1) lossPoints = curve.map((p) => [p.patterns, p.loss]);
      drawDigits(m.predictions as Int32Array);
      kernelPictures($("t-kernels"), m.kernels as Float32Array);
      $("t-pass").textContent = `After pass ${h.pass}: test error ${pct(h.testError)}, training error ${
        pct(h.trainError)
      }${h.runningError === undefined ? "" : ` (${pct(h.runningError)} during the pass)`}, loss ${h.loss.toFixed(4)}`;
      for (const b of downloads) b.disabled = false;
      drawCurves();
    } else if (m.kind === "paused") {
      paused = true;
      pauseButton.textContent = "Resume";
    } else if (m.kind === "resumed") {
      paused = false;
      pauseButton.textContent = "Pause";
    } else if (m.kind === "done" || m.kind === "stopped") {
      api.model = m.model as ModelFile;
      end(m.kind === "stopped");
    } else if (m.kind === "error") {
      status.textContent = `error: ${m.message}`;
      fail?.(new Error(m.message as string));
      end(true);
    }
  }

  drawCurves();
  const number = (id: string) => Number($<HTMLInputElement>(id).value);
  startButton.addEventListener("click", () => {
    const limit = number("t-limit");
    run({
      preset: $<HTMLSelectElement>("t-preset").value,
      passes: number("t-passes"),
      seed: number("t-seed"),
      distort: $<HTMLInputElement>("t-distort").checked,
      ...(limit > 0 && limit < 60000 ? { limit } : {}),
    }).catch((e) => (status.textContent = `error: ${e.message}`));
  });
  pauseButton.addEventListener("click", () => (paused ? api.resume() : api.pause()));
  stopButton.addEventListener("click", () => api.stop());
  const download = (name: string, data: BlobPart, type: string) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([data], { type }));
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  };
  const [use, json, onnx] = downloads;
  use.addEventListener("click", () => api.model && useModel(api.model, runName));
  json.addEventListener("click", () => {
    if (api.model) download("model.json", JSON.stringify(api.model), "application/json");
  });
  onnx.addEventListener("click", () => {
    if (api.model) download("lenet5-trained.onnx", exportOnnx(api.model) as BlobPart, "application/octet-stream");
  });
  return api;
}
