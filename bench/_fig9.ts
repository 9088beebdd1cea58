/**
 * The paper's comparison (Fig. 9) next to ours, from the records of
 * `deno task reproduce fig9`: one row per network with the paper's test error,
 * ours (mean and range over the seeds run), parameters and multiply-adds
 * against the paper's (Figs. 11-12) and the time per run; and a bar chart
 * in the manner of Fig. 9 with the paper's bar and ours side by side.
 *
 * @module
 */
import { defaultRegistry } from "../builtins.ts";
import { loadMnist } from "../data/mnist.ts";
import { modelInputs } from "../data/prepare.ts";
import type { Split } from "../data/split.ts";
import { loadModel } from "../engine/model_file.ts";
import { rejectionFor, topTwoGaps } from "../engine/rejection.ts";
import { buildModel, type GraphSpec } from "../engine/model.ts";
import { FIG9_NETWORKS } from "../presets/fig9.ts";
import { PRESETS } from "../presets/presets.ts";

/** What a row reads of a record. */
export interface Fig9Record {
  readonly testError: number;
  /** For a K-NN run: the test error with k = 1, 2, ... neighbours. */
  readonly testErrorByK?: readonly number[];
  readonly wallSeconds: number | null;
  /** The share of test patterns rejected, least sure first, for 0.5% error on the rest (Fig. 10). */
  readonly rejectedFor05?: number;
}

/** One row of the comparison. */
export interface Fig9Row {
  /** Fig. 9's label. */
  readonly row: string;
  /** The paper's test error, 0..1. */
  readonly paper: number;
  /** The records of our runs of it. */
  readonly records: readonly string[];
  /** For K-NN: which k the row is. */
  readonly k?: number;
  /**
   * Trainable parameters (for K-NN: stored values) and connections (multiply-adds) of ours, and the paper's where it
   * gives them (Figs. 11-12).
   */
  readonly parameters?: number;
  readonly multiplyAdds?: number;
  readonly paperParameters?: number;
  readonly paperMultiplyAdds?: number;
  /** The paper's share rejected for 0.5% error (Fig. 10). */
  readonly paperRejection?: number;
}

/** Seeds each trained network runs on. */
export const FIG9_SEEDS = [0, 1, 2];

/** Our counts of a graph: trainable parameters, and connections but those of the place codes that read the outputs out. */
function counts(graph: GraphSpec) {
  const m = buildModel(graph, { registry: defaultRegistry });
  const multiplyAdds = m.layers.filter((l) => l.name !== "TARGETS").reduce((a, l) => a + l.connections, 0);
  return { parameters: m.counts().trainable, multiplyAdds };
}

/** Nearest neighbours' counts: every pixel of the 60,000 training digits is stored and compared (Figs. 11-12). */
const knn = (pixels: number) => ({ parameters: 60_000 * pixels, multiplyAdds: 60_000 * pixels });

/** The rows, in Fig. 9's order of error: K-NN, the trained networks of presets/fig9.ts, then LeNet-5. */
export function fig9Rows(): Fig9Row[] {
  const seeds = (prefix: string) => FIG9_SEEDS.map((s) => `${prefix}-seed${s}`);
  const lenet5 = counts(PRESETS.lenet5.graph), lenet4 = counts(PRESETS.lenet4.graph);
  return [
    { row: "K-NN Euclidean (k = 1)", paper: 0.05, records: ["fig9-knn"], k: 1, ...knn(784) },
    { row: "K-NN Euclidean, k = 3", paper: 0.05, records: ["fig9-knn"], k: 3, ...knn(784) },
    {
      row: "[deslant] K-NN Euclidean, k = 3",
      paper: 0.024,
      records: ["fig9-knn-deslant"],
      k: 3,
      ...knn(400),
      paperParameters: 24_000_000,
      paperMultiplyAdds: 24_000_000,
      paperRejection: 0.081,
    },
    ...FIG9_NETWORKS.flatMap((n) => {
      const shared = {
        ...counts(n.graph),
        ...(n.paperParameters ? { paperParameters: n.paperParameters } : {}),
        ...(n.paperMultiplyAdds ? { paperMultiplyAdds: n.paperMultiplyAdds } : {}),
        ...(n.paperRejection ? { paperRejection: n.paperRejection } : {}),
      };
      const plain = { row: n.row, paper: n.paperError, records: seeds(`fig9-${n.name}`), ...shared };
      if (n.paperDistortedError === undefined) return [plain];
      const { paperRejection: _, ...counted } = shared;
      return [plain, {
        row: `[dist] ${n.row}`,
        paper: n.paperDistortedError,
        records: seeds(`fig9-dist-${n.name}`),
        ...counted,
      }];
    }),
    {
      row: "[dist] boosted LeNet-4",
      paper: 0.007,
      records: seeds("fig9-boosted-lenet4"),
      parameters: 3 * lenet4.parameters,
      multiplyAdds: 3 * lenet4.multiplyAdds,
      paperParameters: 51_000,
      paperMultiplyAdds: 460_000,
      paperRejection: 0.005,
    },
    {
      row: "LeNet-5",
      paper: 0.0095,
      records: FIG9_SEEDS.map((s) => `appc-mu002-seed${s}`),
      ...lenet5,
      paperParameters: 60_000,
      paperMultiplyAdds: 401_000,
    },
  ];
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const grouped = (x: number | undefined) => (x === undefined ? "-" : x.toLocaleString("en-US"));

/** A row's errors, one per record found (K-NN: the row's k). */
function errorsOf(r: Fig9Row, records: ReadonlyMap<string, Fig9Record>): number[] {
  return r.records.flatMap((name) => {
    const rec = records.get(name);
    if (!rec) return [];
    return [r.k !== undefined ? rec.testErrorByK?.[r.k - 1] ?? NaN : rec.testError];
  }).filter((e) => !Number.isNaN(e));
}

/** The Markdown table: the paper against ours, counts against Figs. 11-12, minutes per run, the records. */
export function fig9Table(records: ReadonlyMap<string, Fig9Record>): string {
  const lines = [
    "| network | the paper | ours: mean (range) | runs | parameters: ours (paper) | multiply-adds: ours (Fig. 11) | rejected for 0.5% error: ours (Fig. 10) | minutes per run | records |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of fig9Rows()) {
    const errors = errorsOf(r, records);
    const mean = errors.reduce((a, b) => a + b, 0) / errors.length;
    const ours = errors.length === 0
      ? "-"
      : errors.length === 1
      ? pct(errors[0])
      : `${pct(mean)} (${pct(Math.min(...errors))} .. ${pct(Math.max(...errors))})`;
    const times = r.records.flatMap((n) => records.get(n)?.wallSeconds ?? []);
    const minutes = times.length ? (times.reduce((a, b) => a + b, 0) / times.length / 60).toFixed(1) : "-";
    const paperCount = (x: number | undefined) => (x === undefined ? "" : ` (${grouped(x)})`);
    const rejected = r.records.flatMap((n) => records.get(n)?.rejectedFor05 ?? []);
    const reject = (rejected.length ? pct(rejected.reduce((a, b) => a + b, 0) / rejected.length) : "-") +
      (r.paperRejection === undefined ? "" : ` (${pct(r.paperRejection)})`);
    const names = r.records.length > 1
      ? `\`${r.records[0]}..${r.records.at(-1)!.replace(/^.*-seed/, "")}\``
      : `\`${r.records[0]}\``;
    lines.push(
      `| ${r.row} | ${pct(r.paper)} | ${ours} | ${errors.length} of ${r.records.length} | ${grouped(r.parameters)}${
        paperCount(r.paperParameters)
      } | ${grouped(r.multiplyAdds)}${paperCount(r.paperMultiplyAdds)} | ${reject} | ${minutes} | ${names} |`,
    );
  }
  return lines.join("\n");
}

/** Fig. 9 as bars: for each row the paper's test error (grey) and ours (blue, the mean over the seeds run). */
export function fig9Chart(records: ReadonlyMap<string, Fig9Record>): string {
  const rows = fig9Rows(), barH = 9, rowH = 2 * barH + 8, left = 230, width = 700, top = 40;
  const most = Math.max(...rows.map((r) => r.paper), ...rows.flatMap((r) => errorsOf(r, records))) * 1.05;
  const x = (e: number) => left + (e / most) * (width - left - 60);
  const height = top + rows.length * rowH + 30;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="16" font-size="13">Test error on MNIST: the paper (Fig. 9, grey) and ours (blue)</text>`,
  ];
  for (let t = 0; t <= most; t += most > 0.06 ? 0.02 : 0.005) {
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${top - 6}" x2="${x(t).toFixed(1)}" y2="${height - 24}" stroke="#ddd"/>`,
      `<text x="${x(t).toFixed(1)}" y="${height - 10}" text-anchor="middle">${(100 * t).toFixed(1)}%</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH, errors = errorsOf(r, records);
    out.push(`<text x="${left - 8}" y="${y + barH + 4}" text-anchor="end">${esc(r.row)}</text>`);
    out.push(`<rect x="${left}" y="${y}" width="${(x(r.paper) - left).toFixed(1)}" height="${barH}" fill="#999"/>`);
    out.push(`<text x="${(x(r.paper) + 4).toFixed(1)}" y="${y + barH - 1}">${pct(r.paper)}</text>`);
    if (errors.length) {
      const m = errors.reduce((a, b) => a + b, 0) / errors.length;
      out.push(
        `<rect x="${left}" y="${y + barH}" width="${(x(m) - left).toFixed(1)}" height="${barH}" fill="#3b6fb6"/>`,
        `<text x="${(x(m) + 4).toFixed(1)}" y="${y + 2 * barH - 1}">${pct(m)}</text>`,
      );
    } else {
      out.push(`<text x="${left + 4}" y="${y + 2 * barH - 1}" fill="#3b6fb6">not run yet</text>`);
    }
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

let testSplit: Promise<Split> | undefined;

/**
 * The share of the MNIST test set the saved model at `path` must reject, least sure first (by the gap between its two
 * most probable classes), for 0.5% error on the rest: Fig. 10's measure.
 */
export async function rejectedFor05(path: string): Promise<number> {
  const model = await loadModel(path, defaultRegistry);
  const test = await (testSplit ??= loadMnist().then((d) => d.test));
  const x = modelInputs(test, model);
  const gaps = new Float64Array(test.count), correct = new Array<boolean>(test.count);
  for (let start = 0, batch = 500; start < test.count; start += batch) {
    const n = Math.min(batch, test.count - start);
    model.forward(x.subarray(start * model.inputSize, (start + n) * model.inputSize), n);
    gaps.set(topTwoGaps(model.probabilities(), n, model.classes), start);
    model.predictions().forEach((c, i) => (correct[start + i] = c === test.labels[start + i]));
  }
  return rejectionFor(gaps, correct, 0.005);
}
