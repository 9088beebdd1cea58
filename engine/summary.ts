/**
 * The layer table: name, type, output shape, parameters, connections, totals.
 *
 * @module
 */
import { showShape } from "./config.ts";
import type { Model } from "./model.ts";

const fmt = (n: number) => n.toLocaleString("en-US");

/**
 * The model's layer table as text.
 *
 * @example
 * ```ts
 * import { buildModel, defaultRegistry, formatSummary, PRESETS } from "../mod.ts";
 * const text = formatSummary(buildModel(PRESETS.lenet5.graph, { registry: defaultRegistry }));
 * if (!text.includes("60,000")) throw new Error("lenet5 has 60,000 parameters");
 * ```
 */
export function formatSummary(model: Model): string {
  const head = ["layer", "type", "output", "params", "fixed", "connections", "details"];
  const rows = model.layers.map((l) => {
    const details: string[] = [];
    const c = l.config as Record<string, unknown>;
    if (l.type === "conv2d" && c.table) {
      const pairs = (c.inputs as Int32Array).length;
      details.push(`table: ${pairs} of ${l.inShape[0] * l.outShape[0]} map pairs`);
    }
    if (l.initName && (l.trainable > 0)) details.push(`init ${l.initName}`);
    return [
      l.name,
      l.type,
      showShape(l.outShape),
      l.trainable ? fmt(l.trainable) : "",
      l.fixed ? fmt(l.fixed) : "",
      l.connections ? fmt(l.connections) : "",
      details.join(", "),
    ];
  });
  const t = model.counts();
  const input = ["input", "", showShape(model.inputShape), "", "", "", ""];
  const total = ["total", "", "", fmt(t.trainable), t.fixed ? fmt(t.fixed) : "", fmt(t.connections), ""];
  const all = [head, input, ...rows, total];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const numeric = new Set([3, 4, 5]);
  const line = (r: string[]) =>
    r.map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const title = `${model.graph.name ?? "model"}: ${fmt(t.trainable)} trainable parameters, ${
    fmt(t.connections)
  } connections, loss ${model.loss.plugin.type}`;
  return [title, "", line(head), rule, line(input), ...rows.map(line), rule, line(total)].join("\n");
}
