/** The SVG charts and the HTML page of the run reports. */
import assert from "node:assert/strict";
import { defaultRegistry } from "../builtins.ts";
import type { Split } from "../data/mnist.ts";
import { evaluate } from "../engine/evaluate.ts";
import type { FitState, PassResult } from "../engine/fit.ts";
import { classificationMetrics } from "../engine/metrics.ts";
import { buildModel } from "../engine/model.ts";
import { Rng } from "../engine/rng.ts";
import { PRESETS } from "../presets/presets.ts";
import { curveCharts, f1Table, indexHtml, misclassified, rankMisclassified } from "../report/report.ts";
import { lineChart, logTicks, misclassifiedGrid, textWidth } from "../report/svg.ts";

Deno.test("lineChart: on a log scale a zero sits at half the smallest positive value, and the axis stays there", () => {
  const options = { title: "t", xLabel: "pass", yLabel: "error (%)", logY: true };
  const chart = (last: number) =>
    lineChart([{ name: "error", color: "#000", points: [[1, 2], [2, 0.5], [3, last]] }], options);
  assert.equal(chart(0), chart(0.25));
  assert.notEqual(chart(0), chart(1e-12));
  // On a linear scale a zero is a zero.
  const linear = (last: number) =>
    lineChart([{ name: "e", color: "#000", points: [[1, 2], [2, last]] }], { ...options, logY: false });
  assert.notEqual(linear(0), linear(0.25));
});

/** A pass of a history, with the fields the report reads. */
function pass(p: number, trainError: number, testError: number, extra: Partial<PassResult> = {}): PassResult {
  return {
    pass: p,
    lr: 0.0005,
    loss: 0.5 / p,
    trainError,
    testError,
    runningError: trainError * 1.5,
    seconds: 2,
    ...extra,
  };
}

/** The width and height attributes of an SVG's root. */
function svgSize(svg: string): { width: number; height: number } {
  const m = svg.match(/^<svg [^>]*width="([\d.]+)" height="([\d.]+)"/)!;
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** The labels of the y axis ticks of a chart. */
const yTicks = (svg: string) => [...svg.matchAll(/<text class="y-tick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

Deno.test("lineChart: the legend stays inside the chart, however long the names", () => {
  const history = [pass(1, 0.1, 0.12), pass(2, 0.05, 0.08), pass(3, 0.03, 0.06)];
  const state: FitState = { passesDone: 3, steps: 0, history, lossCurve: [] };
  const long = "a very long series name that would never fit beside another one on a single line of the legend";
  const charts = [
    curveCharts(state, 1000).error,
    curveCharts(state, 1000).loss,
    lineChart(
      [
        { name: long, color: "#000", points: [[1, 1], [2, 2]] },
        { name: "x <&> y", color: "#f00", points: [[1, 2], [2, 1]] },
        { name: "third", color: "#0f0", points: [[1, 3], [2, 1]] },
      ],
      { title: "t", xLabel: "x", yLabel: "y" },
    ),
  ];
  for (const svg of charts) {
    const { width, height } = svgSize(svg);
    const legend = svg.slice(svg.indexOf('<g class="legend">'));
    const box = legend.match(/<rect class="legend-box" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/)!;
    const right = Number(box[1]) + Number(box[3]);
    assert.ok(right <= width, `legend box ends at ${right} > ${width}`);
    assert.ok(Number(box[2]) + Number(box[4]) <= height);
    const items = [...legend.matchAll(/<text x="([\d.]+)" y="([\d.]+)">([^<]*)/g)];
    assert.ok(items.length >= 1);
    for (const [, x, y, name] of items) {
      const plain = name.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
      assert.ok(Number(x) + textWidth(plain) <= width, `"${plain}" ends at ${Number(x) + textWidth(plain)} > ${width}`);
      assert.ok(Number(y) <= height);
    }
  }
  // The three series of the error chart, each named once in its legend.
  for (const name of ["training error %", "training error during the pass %", "test error %"]) {
    assert.equal(charts[0].split(`>${name}</text>`).length, 2, name);
  }
  assert.ok(charts[2].includes(">x &lt;&amp;&gt; y</text>"), "series names are escaped");
  assert.ok(charts[2].includes(`<title>${long}</title>`), "a name cut short is whole in its title");
});

Deno.test("lineChart: a log axis over 0.005..0.9 is labelled 1-2-5 in each decade", () => {
  const svg = lineChart(
    [{ name: "error", color: "#000", points: [[1, 0.9], [2, 0.2], [3, 0.03], [4, 0.005]] }],
    { title: "t", xLabel: "pass", yLabel: "error", logY: true },
  );
  const ticks = yTicks(svg).map(Number);
  assert.ok(ticks.length >= 4, `ticks ${ticks}`);
  assert.deepEqual(ticks.filter((t) => t < 0.9), [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]);
  assert.ok(ticks.every((t) => t >= 0.004 && t <= 1.1), `ticks ${ticks}`);
  // Narrower ranges still get at least three labels; wide ones one per decade.
  assert.ok(logTicks(Math.log10(5.35), Math.log10(24.5)).length >= 3);
  assert.ok(logTicks(Math.log10(89), Math.log10(90.6)).length >= 3);
  assert.deepEqual(logTicks(-6, 0), [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1]);
});

Deno.test("curveCharts: one pass draws the running loss as a line, and its errors as labelled markers", () => {
  const lossCurve = [1000, 2000, 3000, 4000, 5000, 6000].map((patterns, i) => ({ patterns, loss: 1 / (i + 1) }));
  const state: FitState = { passesDone: 1, steps: 6000, history: [pass(1, 0.05, 0.0625)], lossCurve };
  const { loss, error } = curveCharts(state, 6000);
  const lines = [...loss.matchAll(/<path class="line" d="([^"]*)"/g)].map((m) => m[1]);
  assert.equal(lines.length, 1, "the running loss");
  assert.equal(lines[0].split(/[ML]/).filter(Boolean).length, 6, "a point every 1,000 patterns");
  // The pass's errors: one marker each, labelled with its value.
  assert.equal([...error.matchAll(/<circle class="point"/g)].length, 3);
  const labels = [...error.matchAll(/<text class="point-label"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]).sort();
  assert.deepEqual(labels, ["5.000%", "6.250%", "7.500%"]);
  // The marker sits inside the plot, away from its frame.
  const cx = Number(error.match(/<circle class="point" cx="([\d.]+)"/)![1]);
  assert.ok(cx > 100 && cx < svgSize(error).width - 100, `marker at x ${cx}`);
});

Deno.test("f1Table and indexHtml: the per-digit table holds classificationMetrics' numbers", () => {
  const rng = new Rng(7);
  const labels = Array.from({ length: 500 }, (_, i) => i % 10);
  const predictions = labels.map((l) => (rng.uniform(0, 1) < 0.8 ? l : Math.floor(rng.uniform(0, 10))));
  const metrics = classificationMetrics(predictions, labels, 10);
  const state: FitState = { passesDone: 1, steps: 1, history: [pass(1, 0.1, 0.2)], lossCurve: [] };
  const html = indexHtml("run", state, [], { metrics });
  assert.ok(html.includes(f1Table(metrics)));
  const start = html.indexOf('<table class="f1">'), table = html.slice(start, html.indexOf("</table>", start));
  const body = table.slice(table.indexOf("<tbody>"), table.indexOf("</tbody>"));
  const rows = [...body.matchAll(/<tr>(.*?)<\/tr>/g)].map((m) =>
    [...m[1].matchAll(/<td>([^<]*)<\/td>/g)].map((c) => c[1])
  );
  assert.equal(rows.length, 10);
  rows.forEach((cells, c) => {
    const p = metrics.perClass[c];
    assert.deepEqual(cells.map(Number).slice(0, 1), [c]);
    assert.ok(Math.abs(Number(cells[1]) - p.precision) <= 5e-5, `precision of ${c}`);
    assert.ok(Math.abs(Number(cells[2]) - p.recall) <= 5e-5, `recall of ${c}`);
    assert.ok(Math.abs(Number(cells[3]) - p.f1) <= 5e-5, `F1 of ${c}`);
    assert.equal(Number(cells[4]), p.support);
  });
  assert.match(table, new RegExp(`<th>macro</th>.*<td>${metrics.macroF1.toFixed(4)}</td>`));
});

Deno.test("indexHtml: the passes with SDLM's steps, the recipe, settings, warnings and wall time, all escaped", () => {
  const state: FitState = {
    passesDone: 2,
    steps: 2,
    history: [
      pass(1, 0.1, 0.2, { stepRange: [1.51e-6, 1.6e-2], curvatureSeconds: 0.4, evalSeconds: 1.2 }),
      pass(2, 0.05, 0.1, { stepRange: [1.63e-6, 1.61e-2] }),
    ],
    lossCurve: [],
  };
  const html = indexHtml("<script>alert('x')</script> & co", state, ["a note"], {
    recipe: "recipe: sdlm (mu 0.03), eta 0.0005x2 <b>",
    settings: [["data", '/data/<mnist> & "friends"'], ["eta schedule", "0.0005x2 0.0002"]],
    warnings: ["warning: after pass 1 <the network> is not learning"],
    wallSeconds: 125.4,
    gallery: true,
  });
  assert.ok(!html.includes("<script>") && !html.includes("<b>") && !html.includes("<mnist>") && !html.includes("<the"));
  assert.ok(html.includes("<title>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co</title>"));
  assert.ok(html.includes("<td>/data/&lt;mnist&gt; &amp; &quot;friends&quot;</td>"));
  assert.ok(html.includes("<pre>recipe: sdlm (mu 0.03), eta 0.0005x2 &lt;b&gt;</pre>"));
  assert.match(html, /<div class="warnings">.*\n<p>warning: after pass 1 &lt;the network&gt; is not learning<\/p>/);
  assert.ok(html.includes("Wall time: 2 min 05 s"));
  assert.ok(html.includes('<img src="misclassified.svg"'));
  assert.ok(html.includes("<th>SDLM steps eta/(mu+h_kk)</th>"));
  assert.ok(html.includes("<td>1.51e-6 .. 1.60e-2</td>") && html.includes("<td>1.63e-6 .. 1.61e-2</td>"));
  // Without SDLM there is no steps column, and no warnings box without warnings.
  const plain = indexHtml("run", { ...state, history: [pass(1, 0.1, 0.2)] }, []);
  assert.ok(!plain.includes("SDLM steps") && !plain.includes('class="warnings"') && !plain.includes("misclassified"));
});

Deno.test("rankMisclassified: worst first by ln(P(top) / P(true)), with the two top classes", () => {
  // Three classes; softmax of the scores. Pattern 4 is the surest mistake, then 1, then 7.
  const rows = { 1: [0, 3, 0.5], 4: [0, 0, 9], 7: [1.2, 1, 0] };
  const labels = [0, 0, 0, 0, 0, 0, 0, 1];
  const predictions = [0, 1, 0, 0, 2, 0, 0, 0];
  const wrong = [1, 4, 7];
  const scores = wrong.flatMap((i) => rows[i as 1 | 4 | 7]);
  const probs = wrong.flatMap((i) => {
    const e = rows[i as 1 | 4 | 7].map(Math.exp), sum = e.reduce((a, b) => a + b);
    return e.map((v) => v / sum);
  });
  const cells = rankMisclassified(wrong, labels, predictions, probs, scores, 3);
  assert.deepEqual(cells.map((c) => c.index), [4, 1, 7]);
  assert.deepEqual(cells.map((c) => c.label), [0, 0, 1]);
  assert.deepEqual(cells[1].top.map((t) => t.cls), [1, 2]);
  assert.ok(Math.abs(cells[1].top[0].p - probs[3 * 0 + 1]) < 1e-12);
  assert.deepEqual(cells[2].top.map((t) => t.cls), [0, 1], "the true class may be the runner-up");
  assert.deepEqual(rankMisclassified(wrong, labels, predictions, probs, scores, 3, 2).map((c) => c.index), [4, 1]);
});

Deno.test("misclassified: the gallery holds exactly the misclassified test digits with their labels", () => {
  const model = buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry, seed: 3 });
  const rng = new Rng(11);
  const count = 40;
  const images = new Uint8Array(count * 28 * 28).map(() => (rng.uniform(0, 1) < 0.2 ? 255 : 0));
  const unlabelled: Split = { images, labels: new Uint8Array(count), count, rows: 28, cols: 28 };
  const { predictions } = evaluate(model, unlabelled);
  // Every third digit labelled otherwise than the network says.
  const labels = Uint8Array.from(predictions, (p, i) => (i % 3 === 0 ? (p + 1 + (i % 7)) % 10 : p));
  const test: Split = { ...unlabelled, labels };
  const expected = [...labels.keys()].filter((i) => labels[i] !== predictions[i]);
  const { cells, wrong } = misclassified(model, test, predictions);
  assert.equal(wrong, expected.length);
  assert.deepEqual(cells.map((c) => c.index).sort((a, b) => a - b), expected);
  for (const c of cells) {
    assert.equal(c.label, labels[c.index]);
    assert.equal(c.predicted, predictions[c.index]);
    assert.equal(c.top[0].cls, predictions[c.index], "the model's probabilities agree with its predictions");
    assert.ok(c.top[0].p >= c.top[1].p && c.top[1].p >= 0);
  }
  assert.equal(misclassified(model, test, predictions, 5).cells.length, 5);
  const svg = misclassifiedGrid("AAAA", cells, { columns: 10, side: 28, scale: 3, title: "Misclassified <digits>" });
  const shown = [...svg.matchAll(/<g class="digit" data-index="(\d+)" data-label="(\d+)" data-predicted="(\d+)">/g)]
    .map((m) => m.slice(1).map(Number));
  assert.deepEqual(shown, cells.map((c) => [c.index, c.label, c.predicted]));
  const trueLabels = [...svg.matchAll(/font-weight="bold">true (\d+)<\/text>/g)].map((m) => Number(m[1]));
  assert.deepEqual(trueLabels, cells.map((c) => c.label));
  assert.ok(svg.includes("Misclassified &lt;digits&gt;"));
  assert.ok(!/<tspan[^>]*>\d+ [<>]/.test(svg), "probabilities such as <1% are escaped");
});
