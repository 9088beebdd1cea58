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
import { gather } from "../data/source.ts";
import type { Metrics } from "../engine/metrics.ts";
import type { Model } from "../engine/model.ts";
import { toBase64, writeFileAtomic } from "../engine/model_file.ts";
import { encodePng } from "./png.ts";
import {
  confusionChart,
  digitGrid,
  escapeXml,
  GALLERY_BAND,
  GALLERY_GAP,
  gridPixels,
  lineChart,
  type MisclassifiedCell,
  misclassifiedGrid,
} from "./svg.ts";

/** Test patterns shown in the digit grids: the first 100. */
export const GRID_COUNT = 100;

/**
 * The loss and error charts of a run: the running loss (a point every
 * `lossEvery` patterns, so a line within a single pass too) with each pass's
 * mean, and the errors after each pass (a single pass as labelled markers).
 */
export function curveCharts(state: FitState, patternsPerPass: number): { loss: string; error: string } {
  const lastPass = state.history.reduce((a, h) => Math.max(a, h.pass), 1);
  const running = state.lossCurve.map((p): [number, number] => [p.patterns / patternsPerPass, p.loss]);
  const loss = lineChart(
    [
      { name: "running loss", color: "#1565c0", points: running },
      // A pass's mean loss stands at its middle, where the running loss it averages is centred.
      { name: "mean loss of each pass", color: "#ef6c00", points: state.history.map((h) => [h.pass - 0.5, h.loss]) },
    ],
    { title: "Training loss", xLabel: "pass", yLabel: "loss", logY: true, xRange: [0, lastPass] },
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
    {
      title: "Error after each pass",
      xLabel: "pass",
      yLabel: "error (%)",
      logY: true,
      xRange: [0.5, lastPass + 0.5],
      integerX: true,
      yUnit: "%",
    },
  );
  return { loss, error };
}

/** Writes loss.svg and error.svg from the run's history. */
export async function writeCurves(dir: string, state: FitState, patternsPerPass: number): Promise<void> {
  const { loss, error } = curveCharts(state, patternsPerPass);
  await writeFileAtomic(join(dir, "loss.svg"), loss);
  await writeFileAtomic(join(dir, "error.svg"), error);
}

/** Misclassified test digits shown in the gallery: the worst 100 by margin. */
export const GALLERY_COUNT = 100;

/**
 * The misclassified patterns `wrong` ranked by margin, worst first. `probs`
 * and `scores` hold the class probabilities and the network's outputs of the
 * patterns of `wrong`, one row of `classes` each, in the same order. The
 * margin is the gap between the scores of the top class (by probability)
 * and the true class: for every loss here, whose probabilities are a softmax
 * of plus or minus the scores, that is ln(P(top) / P(true)), which unlike
 * P(top) - P(true) does not saturate at 1 when the network is sure. Keeps
 * the first `limit`; ties go by index.
 */
export function rankMisclassified(
  wrong: readonly number[],
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  probs: ArrayLike<number>,
  scores: ArrayLike<number>,
  classes: number,
  limit = GALLERY_COUNT,
): MisclassifiedCell[] {
  const ranked = wrong.map((index, r) => {
    const row = Array.from({ length: classes }, (_, c) => probs[r * classes + c]);
    const order = row.map((_, c) => c).sort((a, b) => row[b] - row[a] || a - b);
    const [a, b] = order;
    const label = labels[index];
    return {
      index,
      label,
      predicted: predictions[index],
      top: [{ cls: a, p: row[a] }, { cls: b, p: row[b] }] as const,
      margin: Math.abs(scores[r * classes + a] - scores[r * classes + label]),
    };
  });
  ranked.sort((x, y) => y.margin - x.margin || x.index - y.index);
  return ranked.slice(0, limit).map(({ margin: _m, ...cell }) => cell);
}

/**
 * The test digits `predictions` gets wrong, ranked by margin (rankMisclassified),
 * with their class probabilities from `model` (the weights the predictions
 * came from), which runs on those digits only. Also returns how many are wrong.
 */
export function misclassified(
  model: Model,
  test: Split,
  predictions: ArrayLike<number>,
  limit = GALLERY_COUNT,
): { cells: MisclassifiedCell[]; wrong: number } {
  const wrong: number[] = [];
  for (let i = 0; i < predictions.length; i++) if (predictions[i] !== test.labels[i]) wrong.push(i);
  const k = model.classes, batch = 100;
  // Probabilities in doubles: a sure network's runner-up may be far below float32's 1e-45.
  const probs = new Float64Array(wrong.length * k), scores = new Float64Array(wrong.length * k);
  const x = new Float32Array(batch * model.inputSize), labels = new Uint8Array(batch);
  for (let s = 0; s < wrong.length; s += batch) {
    const n = Math.min(batch, wrong.length - s);
    gather(test, wrong.slice(s, s + n), x.subarray(0, n * model.inputSize), labels.subarray(0, n));
    scores.set(model.forward(x.subarray(0, n * model.inputSize), n), s * k);
    model.probabilities(probs.subarray(s * k, (s + n) * k));
  }
  return { cells: rankMisclassified(wrong, test.labels, predictions, probs, scores, k, limit), wrong: wrong.length };
}

/** Writes the gallery of misclassified test digits (`cells`, of `wrong` in all) as an SVG. */
export async function writeGallery(
  path: string,
  test: Split,
  cells: readonly MisclassifiedCell[],
  wrong: number,
  title: string,
): Promise<void> {
  const columns = 10;
  const indices = cells.map((c) => c.index);
  const { pixels, width, height } = gridPixels(test.images, test.rows, indices, columns, GALLERY_BAND, GALLERY_GAP);
  const png = cells.length ? toBase64(await encodePng(pixels, width, height, 1)) : "";
  const shown = cells.length < wrong
    ? `the ${cells.length} worst of ${wrong.toLocaleString("en-US")}`
    : `all ${wrong.toLocaleString("en-US")}`;
  await writeFileAtomic(
    path,
    misclassifiedGrid(png, cells, {
      columns,
      side: test.rows,
      scale: 3,
      title: `${title}: ${shown}`,
      subtitle: "worst first, by ln(P(top class) / P(true class)); under each: the true class, then the two most " +
        "probable classes and their probabilities",
    }),
  );
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
 * each row one digit, padded by `pad` (the model's `inputPad`), the original
 * first, then random distortions of it.
 */
export async function writeDistortionGrid(
  path: string,
  train: Split,
  options: { ranges: DistortionRanges; seed: number; pad: number },
) {
  const { ranges, seed, pad } = options;
  const digits = 8, perDigit = 8;
  const pre = preprocess(train.images.subarray(0, digits * train.rows * train.cols), digits, train.rows, train.cols, {
    pad,
  });
  const side = train.rows + 2 * pad, size = side * side;
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
  const indices = Array.from({ length: digits * perDigit }, (_, i) => i);
  const { pixels, width, height } = gridPixels(images, side, indices, perDigit);
  await writeFileAtomic(path, await encodePng(pixels, width, height, 1));
}

/** Writes confusion.svg and metrics.txt. */
export async function writeMetrics(dir: string, metrics: Metrics, text: string): Promise<void> {
  await writeFileAtomic(join(dir, "confusion.svg"), confusionChart(metrics.confusion, "Confusion matrix (test set)"));
  await writeFileAtomic(join(dir, "metrics.txt"), text + "\n");
}

/** What index.html shows beside the passes and the pictures. */
export interface IndexExtras {
  /** The test metrics after the last pass: the per-class precision, recall and F1 table. */
  readonly metrics?: Metrics;
  /** The training recipe as plain text (shown preformatted). */
  readonly recipe?: string;
  /** Every setting of the run as (name, value) plain text pairs. */
  readonly settings?: readonly (readonly [string, string])[];
  /** The warnings the console printed, plain text. */
  readonly warnings?: readonly string[];
  /** Wall time of the run so far (all sessions), seconds. */
  readonly wallSeconds?: number;
  /** The folder holds misclassified.svg, the gallery of misclassified test digits. */
  readonly gallery?: boolean;
}

/** A duration as "12.3 s", "4 min 05 s" or "1 h 02 min". */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(1)} s`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min ${String(sec).padStart(2, "0")} s`;
}

/** The per-class precision, recall, F1 and support of `metrics` as an HTML table, with the macro F1 last. */
export function f1Table(metrics: Metrics): string {
  const rows = metrics.perClass.map((c, i) => {
    const [precision, recall, f1] = [c.precision, c.recall, c.f1].map((v) => v.toFixed(4));
    return `<tr><td>${i}</td><td>${precision}</td><td>${recall}</td><td>${f1}</td><td>${c.support}</td></tr>`;
  });
  return `<table class="f1"><caption>Per digit, on the test set</caption>
<thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr></thead>
<tbody>
${rows.join("\n")}
</tbody>
<tfoot><tr><th>macro</th><td></td><td></td><td>${metrics.macroF1.toFixed(4)}</td><td>${metrics.count}</td></tr></tfoot>
</table>`;
}

const pct2 = (v: number) => `${(100 * v).toFixed(2)}%`;
const secs = (v: number | undefined) => v === undefined ? "-" : v.toFixed(1);

/**
 * index.html: the pictures, the table of passes, the per-digit table, the
 * misclassified digits, the recipe and settings, the warnings and the wall
 * time. `title` and everything in `extras` are plain text (escaped here);
 * each of `notes` is an HTML fragment, whose embedded strings (paths, names)
 * the caller escapes with escapeXml.
 */
export function indexHtml(title: string, state: FitState, notes: readonly string[], extras: IndexExtras = {}): string {
  // SDLM's smallest and largest step eta / (mu + h_kk) of each pass; other optimizers have none.
  const sdlm = state.history.some((h) => h.stepRange);
  const head = [
    "pass",
    "eta",
    ...(sdlm ? ["SDLM steps eta/(mu+h_kk)"] : []),
    "loss",
    "training error",
    "training error during the pass",
    "test error",
    "training s",
    ...(sdlm ? ["curvature s"] : []),
    "evaluation s",
  ];
  const rows = state.history.map((h) => {
    const cells = [
      String(h.pass),
      String(h.lr),
      ...(sdlm ? [h.stepRange ? `${h.stepRange[0].toExponential(2)} .. ${h.stepRange[1].toExponential(2)}` : "-"] : []),
      h.loss.toFixed(4),
      pct2(h.trainError),
      h.runningError === undefined ? "-" : pct2(h.runningError),
      pct2(h.testError),
      secs(h.seconds),
      ...(sdlm ? [secs(h.curvatureSeconds)] : []),
      secs(h.evalSeconds),
    ];
    return `<tr><td>${cells.map(escapeXml).join("</td><td>")}</td></tr>`;
  }).join("\n");
  const warned = extras.warnings?.map((w) => `<p>${escapeXml(w)}</p>`).join("\n");
  const warnings = warned ? `<div class="warnings"><h2>Warnings</h2>\n${warned}</div>` : "";
  const duration = extras.wallSeconds === undefined ? "" : escapeXml(formatDuration(extras.wallSeconds));
  const wall = duration &&
    `<p>Wall time: ${duration} in all (training, evaluation and writing this report, through pass ${state.passesDone}).</p>`;
  const set = extras.settings?.map(([k, v]) => `<tr><td>${escapeXml(k)}</td><td>${escapeXml(v)}</td></tr>`).join("\n");
  const settings = set ? `<table class="settings"><tr><th>setting</th><th>value</th></tr>\n${set}</table>` : "";
  const pre = extras.recipe ? `<pre>${escapeXml(extras.recipe)}</pre>` : "";
  const recipe = extras.recipe || settings ? `<h2>Recipe and settings</h2>\n${pre}\n${settings}` : "";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em}
img{border:1px solid #ddd;margin:4px;vertical-align:top;max-width:100%}table{border-collapse:collapse;margin:4px}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}caption{font-weight:bold;padding:4px}
table.settings td,table.settings th,table.deviations td{text-align:left}.row{display:flex;flex-wrap:wrap;align-items:flex-start;gap:8px}
.warnings{background:#fff8e1;border:1px solid #ffb300;padding:0 1em;margin:1em 0}pre{white-space:pre-wrap}</style></head>
<body><h1>${escapeXml(title)}</h1>
${warnings}
${notes.map((n) => `<p>${n}</p>`).join("\n")}
${wall}
<div class="row"><img src="loss.svg" alt="training loss"><img src="error.svg" alt="error per pass"></div>
<table class="passes"><caption>Passes</caption>
<tr><th>${head.map(escapeXml).join("</th><th>")}</th></tr>
${rows}</table>
${recipe}
<h2>Test set</h2>
<div class="row"><img src="confusion.svg" alt="confusion matrix">${extras.metrics ? f1Table(extras.metrics) : ""}</div>
${extras.gallery ? `<p><img src="misclassified.svg" alt="misclassified test digits, worst first"></p>` : ""}
<p><img src="digits-before.svg" alt="test digits before training"><img src="digits-after.svg" alt="test digits after training"></p>
<p>Details: <a href="metrics.txt">metrics.txt</a>, <a href="summary.json">summary.json</a>.</p>
</body></html>
`;
  return html;
}

/** Writes index.html (indexHtml) into `dir`. */
export async function writeIndex(
  dir: string,
  title: string,
  state: FitState,
  notes: readonly string[],
  extras: IndexExtras = {},
): Promise<void> {
  await writeFileAtomic(join(dir, "index.html"), indexHtml(title, state, notes, extras));
}
