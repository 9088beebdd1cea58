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

function niceTicks(lo: number, hi: number, count = 5, minStep = 0): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(minStep, [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw);
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

/**
 * Ticks of a log axis from 10^lo to 10^hi (lo, hi in decades): 1-2-5 in
 * each decade; over many decades only the powers of ten (every other one past
 * 12); over less than a decade every digit 1..9, or plain linear ticks when
 * even those leave fewer than three.
 */
export function logTicks(lo: number, hi: number): number[] {
  const within = (t: number) => Math.log10(t) >= lo - 1e-9 && Math.log10(t) <= hi + 1e-9;
  const decades = (mantissas: number[], every = 1) => {
    const out: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e += every) {
      for (const m of mantissas) out.push(+(m * 10 ** e).toPrecision(12));
    }
    return out.filter(within);
  };
  const span = hi - lo;
  if (span > 12) return decades([1], 2);
  if (span > 4) return decades([1]);
  const ticks = decades([1, 2, 5]);
  if (ticks.length >= 3) return ticks;
  const digits = decades([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  if (digits.length >= 3) return digits;
  return niceTicks(10 ** lo, 10 ** hi, 5).filter((t) => t > 0 && within(t));
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString("en-US") : +v.toPrecision(4) + "");

/** Width of `text` in pixels at `size`, an upper estimate for a sans-serif font. */
export const textWidth = (text: string, size = 12): number => text.length * size * 0.62;

/** Options of `lineChart`. */
export interface LineChartOptions {
  /** Written above the plot; without one the plot starts near the top. */
  title?: string;
  xLabel: string;
  yLabel: string;
  /** A log scale on y (zeros sit at half the smallest positive value). */
  logY?: boolean;
  /** Width and height of the chart's frame and axes; the legend goes below, adding rows of 18 px. */
  width?: number;
  height?: number;
  /** The x range shown; default from min(0, smallest x) to max(1, largest x). */
  xRange?: readonly [number, number];
  /** Ticks on x at whole numbers only (passes). */
  integerX?: boolean;
  /** Appended to the value labels of single points (e.g. "%"). */
  yUnit?: string;
}

/** The smallest and the largest of `values` and `start`, without spreading `values` into arguments (a long series would overflow the stack). */
const least = (values: readonly number[], start: number) => values.reduce((a, b) => (b < a ? b : a), start);
const most = (values: readonly number[], start: number) => values.reduce((a, b) => (b > a ? b : a), start);

/**
 * A line chart with axes, ticks, a legend under the plot and an optional log
 * scale on y. A series of a single point is drawn as a large marker labelled
 * with its value.
 */
export function lineChart(series: readonly Series[], options: LineChartOptions): string {
  const W = options.width ?? 640, plotH = options.height ?? 360;
  const m = { l: 64, r: 16, t: options.title ? 36 : 12, b: 48 };
  // The legend of the series drawn: items side by side below the x label, wrapped to fit the width.
  // A name too long for a line of its own is cut short with an ellipsis.
  const legend: { x: number; row: number; s: Series; name: string }[] = [];
  const room = Math.floor((W - m.l - m.r - 18) / textWidth("x"));
  let lx = m.l, row = 0;
  for (const s of series.filter((s) => s.points.length)) {
    const name = s.name.length > room ? s.name.slice(0, room - 1) + "…" : s.name;
    const w = 18 + textWidth(name) + 18;
    if (lx + w - 18 > W - m.r && lx > m.l) (lx = m.l, row++);
    legend.push({ x: lx, row, s, name });
    lx += w;
  }
  const legendRows = legend.length ? row + 1 : 0;
  const H = plotH + legendRows * 18 + (legendRows ? 6 : 0);
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  // On a log scale, zeros (an error of 0%) sit at half the smallest positive value, not at 1e-12.
  const floor = all.reduce((a, p) => (p[1] > 0 && p[1] / 2 < a ? p[1] / 2 : a), Infinity);
  const lg = (v: number) => (options.logY ? Math.log10(v) : v);
  const tf = (v: number) => (options.logY ? lg(Math.max(v, Number.isFinite(floor) ? floor : 1e-12)) : v);
  const ys = all.map((p) => tf(p[1]));
  const [x0, x1] = options.xRange ?? [least(xs, 0), most(xs, 1)];
  let y0 = least(ys, Infinity), y1 = most(ys, -Infinity);
  if (!Number.isFinite(y0)) (y0 = 0, y1 = 1);
  if (!options.logY) y0 = Math.min(0, y0);
  if (y1 - y0 < 1e-9) (y0 = options.logY ? y0 - 0.5 : y0, y1 = y0 + 1);
  if (options.logY) {
    // A margin above and below, so no point sits on the frame.
    const pad = 0.04 * (y1 - y0);
    (y0 -= pad, y1 += pad);
  }
  const bottom = plotH - m.b, yMid = (m.t + bottom) / 2, yLabel = escapeXml(options.yLabel);
  const sx = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (v: number) => bottom - ((tf(v) - y0) / (y1 - y0)) * (bottom - m.t);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  if (options.title) {
    parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 5, options.integerX ? 1 : 0)) {
    if (options.integerX && !Number.isInteger(t)) continue;
    parts.push(
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t}" y2="${bottom}" stroke="#eee"/>`,
      `<text class="x-tick" x="${sx(t)}" y="${bottom + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  const yTicks = options.logY ? logTicks(y0, y1) : niceTicks(y0, y1);
  for (const t of yTicks) {
    if (lg(t) < y0 - 1e-9 || lg(t) > y1 + 1e-9) continue;
    parts.push(
      `<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/>`,
      `<text class="y-tick" x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${fmt(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${bottom - m.t}" fill="none" stroke="#888"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${bottom + 34}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text x="14" y="${yMid}" text-anchor="middle" transform="rotate(-90 14 ${yMid})">${yLabel}</text>`,
  );
  const labels: { x: number; y: number; text: string; color: string }[] = [];
  for (const s of series) {
    if (s.points.length === 0) continue;
    if (s.points.length === 1) {
      const [[px, py]] = s.points;
      const cx = sx(px), cy = sy(py), [x, y] = [cx.toFixed(1), cy.toFixed(1)];
      parts.push(`<circle class="point" cx="${x}" cy="${y}" r="6" fill="${s.color}" stroke="white" stroke-width="2"/>`);
      const value = Math.abs(py) >= 1000 ? fmt(py) : py.toPrecision(4);
      labels.push({ x: cx + 10, y: cy + 4, text: value + (options.yUnit ?? ""), color: s.color });
      continue;
    }
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    parts.push(`<path class="line" d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    if (s.points.length <= 40) {
      for (const p of s.points) {
        parts.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="3" fill="${s.color}"/>`);
      }
    }
  }
  // Value labels of single points, pushed apart so that none overlaps the next.
  labels.sort((a, b) => a.y - b.y);
  for (let i = 1; i < labels.length; i++) labels[i].y = Math.max(labels[i].y, labels[i - 1].y + 14);
  for (const l of labels) {
    const anchor = l.x + textWidth(l.text) > W - m.r ? ` text-anchor="end"` : "";
    const x = (anchor ? l.x - 20 : l.x).toFixed(1), y = l.y.toFixed(1), text = escapeXml(l.text);
    parts.push(
      `<text class="point-label" x="${x}" y="${y}"${anchor} fill="${l.color}" font-weight="bold">${text}</text>`,
    );
  }
  const legendW = (most(legend.map((l) => l.x + 18 + textWidth(l.name)), m.l) - m.l).toFixed(1),
    legendH = legendRows * 18;
  parts.push(
    `<g class="legend"><rect class="legend-box" x="${m.l}" y="${plotH}" width="${legendW}" height="${legendH}" fill="none"/>`,
  );
  for (const { x, row, s, name } of legend) {
    const y = plotH + row * 18,
      shown = escapeXml(name),
      title = name === s.name ? "" : `<title>${escapeXml(s.name)}</title>`;
    parts.push(
      `<rect x="${x}" y="${y + 7}" width="12" height="3" fill="${s.color}"/>`,
      `<text x="${x + 18}" y="${y + 12}">${shown}${title}</text>`,
    );
  }
  parts.push("</g>", "</svg>");
  return parts.join("\n");
}

/** A confusion matrix as a heat map with counts. */
export function confusionChart(confusion: readonly (readonly number[])[], title: string): string {
  const k = confusion.length, cell = 40, m = { l: 60, t: 56 }, mid = m.t + (k * cell) / 2;
  const W = m.l + k * cell + 16, H = m.t + k * cell + 40;
  const off = confusion.flatMap((row, i) => row.filter((_, j) => j !== i));
  const maxOff = most(off, 1);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
    `<text x="${m.l + (k * cell) / 2}" y="${m.t - 22}" text-anchor="middle">predicted</text>`,
    `<text x="16" y="${mid}" text-anchor="middle" transform="rotate(-90 16 ${mid})">true</text>`,
  ];
  for (let i = 0; i < k; i++) {
    parts.push(
      `<text x="${m.l + i * cell + cell / 2}" y="${m.t - 6}" text-anchor="middle">${i}</text>`,
      `<text x="${m.l - 8}" y="${m.t + i * cell + cell / 2 + 4}" text-anchor="end">${i}</text>`,
    );
    for (let j = 0; j < k; j++) {
      const v = confusion[i][j];
      const fill = i === j ? "#2e7d32" : `rgba(198, 40, 40, ${v ? 0.15 + 0.85 * (v / maxOff) : 0})`;
      const text = i === j || v / maxOff > 0.5 ? "white" : "black", x = m.l + j * cell, y = m.t + i * cell;
      parts.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"/>`,
        `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" fill="${text}">${v}</text>`,
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
 * on white, each cell `side + gap` wide (the image centred) and `side + band` tall.
 */
export function gridPixels(
  images: Uint8Array,
  side: number,
  indices: readonly number[],
  columns: number,
  band = GRID_BAND,
  gap = 0,
): { pixels: Uint8Array; width: number; height: number } {
  const rows = Math.ceil(indices.length / columns);
  const cellW = side + gap, width = columns * cellW, cellH = side + band, height = rows * cellH;
  const pixels = new Uint8Array(width * height).fill(255);
  indices.forEach((s, i) => {
    const x0 = (i % columns) * cellW + Math.floor(gap / 2), y0 = Math.floor(i / columns) * cellH;
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) pixels[(y0 + r) * width + x0 + c] = 255 - images[s * side * side + r * side + c];
    }
  });
  return { pixels, width, height };
}

/** A PNG (base64) drawn at (0, top), `width` x `height`, its pixels scaled up as squares. */
const pngImage = (top: number, width: number, height: number, base64: string) =>
  `<image x="0" y="${top}" width="${width}" height="${height}" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,${base64}"/>`;

/** A cell of a digit grid: its true class, and the predicted one once there is a prediction. */
export interface DigitCell {
  readonly label: number;
  readonly predicted?: number;
}

/** Options of {@linkcode digitGrid}. */
export interface DigitGridOptions {
  readonly columns: number;
  /** Pixels on a side of each image, and how many times larger it is drawn. */
  readonly side: number;
  readonly scale: number;
  /** Written above the grid, with the count of mistakes. */
  readonly title?: string;
  /**
   * For a PNG of `gridPixels` with band 0: only the mistakes are labelled,
   * with the predicted class in the cell's corner.
   */
  readonly compact?: boolean;
}

/**
 * A grid of digits: the PNG from `gridPixels` scaled up, with each cell's
 * prediction under it; misclassified ones framed in red with the true label.
 * A cell without a prediction is drawn plain.
 */
export function digitGrid(pngBase64: string, cells: readonly DigitCell[], options: DigitGridOptions): string {
  const { columns, side, scale, compact } = options;
  const rows = Math.ceil(cells.length / columns);
  const cw = side * scale, ch = (side + (compact ? 0 : GRID_BAND)) * scale, top = options.title ? 30 : 0;
  const W = columns * cw, H = top + rows * ch;
  const wrong = cells.filter((c) => c.predicted !== undefined && c.label !== c.predicted).length;
  const title = options.title && escapeXml(options.title), mid = W / 2;
  const heading =
    `<text x="${mid}" y="18" text-anchor="middle" font-size="14">${title}: ${wrong} of ${cells.length} wrong</text>`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...(title ? [heading] : []),
    pngImage(top, W, rows * ch, pngBase64),
  ];
  cells.forEach((c, i) => {
    if (c.predicted === undefined) return;
    const x = (i % columns) * cw, y = top + Math.floor(i / columns) * ch;
    const ok = c.label === c.predicted, [fx, fy, fw] = [x + 1, y + 1, cw - 2];
    if (!ok) {
      parts.push(
        `<rect x="${fx}" y="${fy}" width="${fw}" height="${fw}" fill="none" stroke="#d32f2f" stroke-width="2"/>`,
      );
    }
    if (compact && !ok) {
      parts.push(
        `<text x="${x + 2}" y="${y + 10}" fill="#d32f2f" font-size="10" font-weight="bold">${c.predicted}</text>`,
      );
    } else if (!compact) {
      const colour = ok ? "#2e7d32" : "#d32f2f", label = ok ? c.predicted : `${c.predicted} (true ${c.label})`;
      parts.push(`<text x="${x + cw / 2}" y="${y + cw + 14}" text-anchor="middle" fill="${colour}">${label}</text>`);
    }
  });
  parts.push("</svg>");
  return parts.join("\n");
}

/** A misclassified digit of the gallery: its index in the test set, true class and the two top-scoring classes. */
export interface MisclassifiedCell {
  readonly index: number;
  readonly label: number;
  /** The class the run's evaluation predicted (normally `top[0].cls`). */
  readonly predicted: number;
  /** The two classes of highest probability, highest first, with their probabilities (0..1). */
  readonly top: readonly [{ readonly cls: number; readonly p: number }, { readonly cls: number; readonly p: number }];
}

/** Blank pixel rows under each digit of the gallery (two lines of text), and blank columns beside it. */
export const GALLERY_BAND = 11, GALLERY_GAP = 9;

/** A probability, short: a whole percentage in 1%..99%, "99.7%" or ">99.9%" above, "3e-6" below. */
export function percent(p: number): string {
  if (p > 0.999) return ">99.9%";
  if (p >= 0.995) return `${(100 * p).toFixed(1)}%`;
  if (p >= 0.01) return `${Math.round(100 * p)}%`;
  return p > 0 ? p.toExponential(0) : "0";
}

/**
 * A gallery of misclassified digits: the PNG from `gridPixels` (with band
 * GALLERY_BAND and gap GALLERY_GAP) scaled up; under each digit its true
 * class, then the two top classes with their probabilities (the true class
 * in green if it is one).
 */
export function misclassifiedGrid(
  pngBase64: string,
  cells: readonly MisclassifiedCell[],
  options: { columns: number; side: number; scale: number; title: string; subtitle?: string },
): string {
  const { columns, side, scale } = options;
  const rows = Math.ceil(cells.length / columns);
  const cw = (side + GALLERY_GAP) * scale, ch = (side + GALLERY_BAND) * scale, top = options.subtitle ? 46 : 30;
  const iw = side * scale, ix = Math.floor(GALLERY_GAP / 2) * scale;
  const W = columns * cw, H = top + Math.max(rows * ch, 24);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`,
    ...(options.subtitle
      ? [`<text x="${W / 2}" y="36" text-anchor="middle" fill="#555">${escapeXml(options.subtitle)}</text>`]
      : []),
  ];
  parts.push(
    cells.length
      ? pngImage(top, W, rows * ch, pngBase64)
      : `<text x="${W / 2}" y="${top + 14}" text-anchor="middle">none</text>`,
  );
  cells.forEach((c, i) => {
    const x = (i % columns) * cw, y = top + Math.floor(i / columns) * ch;
    const [a, b] = c.top, [pa, pb] = [escapeXml(percent(a.p)), escapeXml(percent(b.p))];
    const span = (t: { cls: number; p: number }) =>
      `<tspan fill="${t.cls === c.label ? "#2e7d32" : "#d32f2f"}">${t.cls} ${escapeXml(percent(t.p))}</tspan>`;
    const spans = `${span(a)} · ${span(b)}`;
    parts.push(
      `<g class="digit" data-index="${c.index}" data-label="${c.label}" data-predicted="${c.predicted}">` +
        `<title>test digit ${c.index}: true ${c.label}; ${a.cls} ${pa}, ${b.cls} ${pb}</title>` +
        `<rect x="${x + ix}" y="${y}" width="${iw}" height="${iw}" fill="none" stroke="#d32f2f"/>` +
        `<text x="${x + cw / 2}" y="${y + iw + 13}" text-anchor="middle" font-weight="bold">true ${c.label}</text>` +
        `<text x="${x + cw / 2}" y="${y + iw + 27}" text-anchor="middle" font-size="11">${spans}</text>` +
        `</g>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n");
}
