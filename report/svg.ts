/**
 * Small SVG charts: line charts and a confusion-matrix heat map.
 *
 * @module
 */

/** Text made safe inside XML or HTML elements and attribute values. */
export const escapeXml = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

/** One line of a chart. */
export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: readonly (readonly [number, number])[];
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString("en-US") : +v.toPrecision(4) + "");

/** A line chart with axes, ticks, a legend and an optional log scale on y. */
export function lineChart(
  series: readonly Series[],
  options: { title: string; xLabel: string; yLabel: string; logY?: boolean; width?: number; height?: number },
): string {
  const W = options.width ?? 640, H = options.height ?? 360;
  const m = { l: 64, r: 16, t: 36, b: 48 };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  // On a log scale, zeros (an error of 0%) sit at half the smallest positive value, not at 1e-12.
  const floor = all.reduce((a, p) => (p[1] > 0 && p[1] / 2 < a ? p[1] / 2 : a), Infinity);
  const lg = (v: number) => (options.logY ? Math.log10(v) : v);
  const tf = (v: number) => (options.logY ? lg(Math.max(v, Number.isFinite(floor) ? floor : 1e-12)) : v);
  const ys = all.map((p) => tf(p[1]));
  const x0 = Math.min(...xs, 0), x1 = Math.max(...xs, 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!options.logY) y0 = Math.min(0, y0);
  if (y1 - y0 < 1e-9) y1 = y0 + 1;
  const sx = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (v: number) => H - m.b - ((tf(v) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  ];
  for (const t of niceTicks(x0, x1)) {
    parts.push(
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`,
      `<text x="${sx(t)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  let yTicks = options.logY
    ? niceTicks(Math.floor(y0), Math.ceil(y1), Math.max(1, Math.ceil(y1) - Math.floor(y0))).map((e) => 10 ** e)
      .filter((t) => lg(t) >= y0 - 1e-9 && lg(t) <= y1 + 1e-9)
    : niceTicks(y0, y1);
  // Less than two decades on a log scale: label plain values in the range instead.
  if (options.logY && yTicks.length < 2) yTicks = niceTicks(10 ** y0, 10 ** y1, 4).filter((t) => t > 0);
  for (const t of yTicks) {
    if (lg(t) < y0 - 1e-9 || lg(t) > y1 + 1e-9) continue;
    parts.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`,
      `<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#888"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${
      escapeXml(options.yLabel)
    }</text>`,
  );
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    if (s.points.length <= 40) {
      for (const p of s.points) {
        parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${s.color}"/>`);
      }
    }
    parts.push(
      `<rect x="${W - m.r - 150}" y="${m.t + 8 + i * 18}" width="12" height="3" fill="${s.color}"/>`,
      `<text x="${W - m.r - 132}" y="${m.t + 13 + i * 18}">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** A confusion matrix as a heat map with counts. */
export function confusionChart(confusion: readonly (readonly number[])[], title: string): string {
  const k = confusion.length, cell = 40, m = { l: 60, t: 56 };
  const W = m.l + k * cell + 16, H = m.t + k * cell + 40;
  const off = confusion.flatMap((row, i) => row.filter((_, j) => j !== i));
  const maxOff = Math.max(1, ...off);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<text x="${m.l + (k * cell) / 2}" y="${m.t - 22}" text-anchor="middle">predicted</text>`,
    `<text x="16" y="${m.t + (k * cell) / 2}" text-anchor="middle" transform="rotate(-90 16 ${
      m.t + (k * cell) / 2
    })">true</text>`,
  ];
  for (let i = 0; i < k; i++) {
    parts.push(
      `<text x="${m.l + i * cell + cell / 2}" y="${m.t - 6}" text-anchor="middle">${i}</text>`,
      `<text x="${m.l - 8}" y="${m.t + i * cell + cell / 2 + 4}" text-anchor="end">${i}</text>`,
    );
    for (let j = 0; j < k; j++) {
      const v = confusion[i][j];
      const fill = i === j ? "#2e7d32" : `rgba(198, 40, 40, ${v ? 0.15 + 0.85 * (v / maxOff) : 0})`;
      const text = i === j || v / maxOff > 0.5 ? "white" : "black";
      parts.push(
        `<rect x="${m.l + j * cell}" y="${
          m.t + i * cell
        }" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"/>`,
        `<text x="${m.l + j * cell + cell / 2}" y="${
          m.t + i * cell + cell / 2 + 4
        }" text-anchor="middle" fill="${text}">${v}</text>`,
      );
    }
  }
  parts.push("</svg>");
  return parts.join("\n");
}

/** Blank pixel rows under each row of digits in a grid image, where the labels go. */
export const GRID_BAND = 7;

/**
 * Lays grey-level images (0 = background) out as a grid for a PNG: ink dark
 * on white, each cell `side` wide and `side + GRID_BAND` tall.
 */
export function gridPixels(
  images: Uint8Array,
  side: number,
  indices: readonly number[],
  columns: number,
): { pixels: Uint8Array; width: number; height: number } {
  const rows = Math.ceil(indices.length / columns);
  const width = columns * side, cellH = side + GRID_BAND, height = rows * cellH;
  const pixels = new Uint8Array(width * height).fill(255);
  indices.forEach((s, i) => {
    const x0 = (i % columns) * side, y0 = Math.floor(i / columns) * cellH;
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) pixels[(y0 + r) * width + x0 + c] = 255 - images[s * side * side + r * side + c];
    }
  });
  return { pixels, width, height };
}

/**
 * A grid of digits: the PNG from `gridPixels` scaled up, with each cell's
 * prediction under it; misclassified ones framed in red with the true label.
 */
export function digitGrid(
  pngBase64: string,
  cells: readonly { label: number; predicted: number }[],
  options: { columns: number; side: number; scale: number; title: string },
): string {
  const { columns, side, scale } = options;
  const rows = Math.ceil(cells.length / columns);
  const cw = side * scale, ch = (side + GRID_BAND) * scale, top = 30;
  const W = columns * cw, H = top + rows * ch;
  const wrong = cells.filter((c) => c.label !== c.predicted).length;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${
      escapeXml(options.title)
    }: ${wrong} of ${cells.length} wrong</text>`,
    `<image x="0" y="${top}" width="${W}" height="${
      rows * ch
    }" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,${pngBase64}"/>`,
  ];
  cells.forEach((c, i) => {
    const x = (i % columns) * cw, y = top + Math.floor(i / columns) * ch;
    const ok = c.label === c.predicted;
    if (!ok) {
      parts.push(
        `<rect x="${x + 1}" y="${y + 1}" width="${cw - 2}" height="${
          cw - 2
        }" fill="none" stroke="#d32f2f" stroke-width="2"/>`,
      );
    }
    parts.push(
      `<text x="${x + cw / 2}" y="${y + cw + 14}" text-anchor="middle" fill="${ok ? "#2e7d32" : "#d32f2f"}">${
        ok ? c.predicted : `${c.predicted} (true ${c.label})`
      }</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}
