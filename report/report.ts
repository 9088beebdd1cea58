/**
 * The pictures of a run folder: loss and error curves, digits before and
 * after training, the confusion matrix, and an HTML page showing them.
 *
 * @module
 */
import { join } from "node:path";
import { distortInto, type DistortionRanges, NO_DISTORTION, randomDistortion } from "../data/distort.ts";
import type { Split } from "../data/mnist.ts";
import { PAPER_PREPROCESS, preprocess } from "../data/preprocess.ts";
import { Rng } from "../engine/rng.ts";
import type { FitState } from "../engine/fit.ts";
import type { Metrics } from "../engine/metrics.ts";
import { toBase64, writeFileAtomic } from "../engine/model_file.ts";
import { encodePng } from "./png.ts";
import { confusionChart, digitGrid, escapeXml, gridPixels, lineChart } from "./svg.ts";

/** Test patterns shown in the digit grids: the first 100. */
export const GRID_COUNT = 100;

/** Writes loss.svg and error.svg from the run's history. */
export async function writeCurves(dir: string, state: FitState, patternsPerPass: number): Promise<void> {
  const loss = lineChart(
    [
      {
        name: "running loss",
        color: "#1565c0",
        points: state.lossCurve.map((p) => [p.patterns / patternsPerPass, p.loss]),
      },
      { name: "mean loss of the pass", color: "#ef6c00", points: state.history.map((h) => [h.pass, h.loss]) },
    ],
    { title: "Training loss", xLabel: "pass", yLabel: "loss", logY: true },
  );
  const error = lineChart(
    [
      { name: "training error %", color: "#1565c0", points: state.history.map((h) => [h.pass, 100 * h.trainError]) },
      {
        name: "training error during the pass %",
        color: "#7cb342",
        points: state.history.flatMap((h) => h.runningError === undefined ? [] : [[h.pass, 100 * h.runningError]]),
      },
      { name: "test error %", color: "#c62828", points: state.history.map((h) => [h.pass, 100 * h.testError]) },
    ],
    { title: "Error after each pass", xLabel: "pass", yLabel: "error (%)", logY: true },
  );
  await writeFileAtomic(join(dir, "loss.svg"), loss);
  await writeFileAtomic(join(dir, "error.svg"), error);
}

/** Writes a grid of the first test digits with the model's predictions. */
export async function writeDigitGrid(
  path: string,
  test: Split,
  predictions: ArrayLike<number>,
  title: string,
): Promise<void> {
  const count = Math.min(GRID_COUNT, test.count);
  const indices = Array.from({ length: count }, (_, i) => i);
  const { pixels, width, height } = gridPixels(test.images, test.rows, indices, 10);
  const png = await encodePng(pixels, width, height, 1);
  const cells = indices.map((i) => ({ label: test.labels[i], predicted: predictions[i] }));
  await writeFileAtomic(path, digitGrid(toBase64(png), cells, { columns: 10, side: test.rows, scale: 3, title }));
}

/**
 * Writes a PNG of training digits as the network sees them with `--distort`:
 * each row one digit, the original first, then random distortions of it.
 */
export async function writeDistortionGrid(path: string, train: Split, ranges: DistortionRanges, seed: number) {
  const digits = 8, perDigit = 8;
  const pre = preprocess(train.images.subarray(0, digits * train.rows * train.cols), digits, train.rows, train.cols);
  const side = train.rows + 2 * PAPER_PREPROCESS.pad, size = side * side;
  const { background: bg, ink } = PAPER_PREPROCESS;
  const images = new Uint8Array(digits * perDigit * size), out = new Float32Array(size);
  const rng = new Rng(seed);
  for (let d = 0; d < digits; d++) {
    for (let k = 0; k < perDigit; k++) {
      const distortion = k === 0 ? NO_DISTORTION : randomDistortion(rng, ranges);
      distortInto(pre, d * size, side, side, out, 0, distortion, bg);
      const cell = (d * perDigit + k) * size;
      for (let i = 0; i < size; i++) {
        images[cell + i] = Math.round(255 * Math.min(1, Math.max(0, (out[i] - bg) / (ink - bg))));
      }
    }
  }
  const { pixels, width, height } = gridPixels(
    images,
    side,
    Array.from({ length: digits * perDigit }, (_, i) => i),
    perDigit,
  );
  await writeFileAtomic(path, await encodePng(pixels, width, height, 1));
}

/** Writes confusion.svg and metrics.txt. */
export async function writeMetrics(dir: string, metrics: Metrics, text: string): Promise<void> {
  await writeFileAtomic(join(dir, "confusion.svg"), confusionChart(metrics.confusion, "Confusion matrix (test set)"));
  await writeFileAtomic(join(dir, "metrics.txt"), text + "\n");
}

/**
 * Writes index.html: the pictures and the table of passes together. `title`
 * is plain text (escaped here); each of `notes` is an HTML fragment, whose
 * embedded strings (paths, names) the caller escapes with escapeXml.
 */
export async function writeIndex(dir: string, title: string, state: FitState, notes: string[]): Promise<void> {
  const rows = state.history.map((h) =>
    `<tr><td>${h.pass}</td><td>${h.lr}</td><td>${h.loss.toFixed(4)}</td><td>${
      (100 * h.trainError).toFixed(2)
    }%</td><td>${h.runningError === undefined ? "-" : (100 * h.runningError).toFixed(2) + "%"}</td><td>${
      (100 * h.testError).toFixed(2)
    }%</td><td>${h.seconds.toFixed(1)}</td></tr>`
  ).join("\n");
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em}
img{border:1px solid #ddd;margin:4px;vertical-align:top;max-width:100%}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head>
<body><h1>${escapeXml(title)}</h1>
${notes.map((n) => `<p>${n}</p>`).join("\n")}
<p><img src="loss.svg" alt="training loss"><img src="error.svg" alt="error per pass"></p>
<p><img src="digits-before.svg" alt="test digits before training"><img src="digits-after.svg" alt="test digits after training"></p>
<p><img src="confusion.svg" alt="confusion matrix"></p>
<table><tr><th>pass</th><th>eta</th><th>loss</th><th>training error</th><th>training error during the pass</th><th>test error</th><th>seconds</th></tr>
${rows}</table>
<p>Details: <a href="metrics.txt">metrics.txt</a>, <a href="summary.json">summary.json</a>.</p>
</body></html>
`;
  await writeFileAtomic(join(dir, "index.html"), html);
}
