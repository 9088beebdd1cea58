/**
 * The table of a preset's departures from the paper, from the preset's own
 * data (`Preset.deviations`): the one list the documents show. `deno task
 * reproduce --table` writes it into docs/results.md between
 * `<!-- deviations -->` and `<!-- /deviations -->`, and tests/docs_test.ts
 * fails when that block differs from what this function gives.
 *
 * @module
 */
import type { Deviation } from "../presets/presets.ts";
import { escapeXml } from "./svg.ts";

/** The block's markers in docs/results.md. */
export const DEVIATIONS_OPEN = "<!-- deviations -->";
/** The block's closing marker. */
export const DEVIATIONS_CLOSE = "<!-- /deviations -->";

/**
 * A Markdown table of `deviations`, one row each (setting, the paper, the
 * recipe's value, why, the flag that restores the paper's reading), with its
 * columns padded as `deno fmt` lays them out, so the document stays fmt-clean.
 *
 * @example
 * ```ts
 * import { deviationsTable } from "./deviations.ts";
 * import { PRESETS } from "../presets/presets.ts";
 *
 * const table = deviationsTable(PRESETS.lenet5.deviations ?? []);
 * if (!table.startsWith("| setting ")) throw new Error(table);
 * ```
 */
export function deviationsTable(deviations: readonly Deviation[]): string {
  const rows = [
    ["setting", "the paper", "the default", "why (measured)", "flag for the paper's reading"],
    ...deviations.map((d) => [d.setting, d.paper, d.here, d.why, `\`${d.literal}\``]),
  ];
  const widths = rows[0].map((_, i) => Math.max(3, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(rows[0]), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)].join("\n");
}

/** `text` with the deviations block's content replaced by `table`; throws when the markers are missing. */
export function withDeviations(text: string, table: string): string {
  const a = text.indexOf(DEVIATIONS_OPEN), b = text.indexOf(DEVIATIONS_CLOSE);
  if (a < 0 || b < a) throw new Error(`Cannot find the markers ${DEVIATIONS_OPEN} ... ${DEVIATIONS_CLOSE}`);
  return `${text.slice(0, a + DEVIATIONS_OPEN.length)}\n\n${table}\n\n${text.slice(b)}`;
}

/** The deviations as an HTML table for a run's index.html (none: nothing). */
export function deviationsHtml(devs: readonly Deviation[] | undefined): string[] {
  if (!devs?.length) return [];
  const rows = devs.map((d) =>
    `<tr><td>${[d.setting, d.paper, d.here, d.why, d.literal].map(escapeXml).join("</td><td>")}</td></tr>`
  );
  return [
    `Where this run departs from the paper's text:</p><table class="deviations"><tr><th>setting</th><th>paper</th><th>here</th>` +
    `<th>why</th><th>flag for the paper's reading</th></tr>${rows.join("")}</table><p>`,
  ];
}
