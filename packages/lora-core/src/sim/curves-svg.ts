/**
 * A small SVG line-chart writer for accuracy-vs-simulated-time curves: one panel per setting side
 * by side, one polyline per series, a shared legend, optional dashed target line per panel.
 * Returns the document as a string (no DOM, no fs).
 */

export interface CurveSeries {
  readonly name: string;
  /** [x, y] points in x order. */
  readonly points: readonly (readonly [number, number])[];
  /** Optional confidence band: [x, lo, hi] in x order, drawn as a translucent area under the line. */
  readonly band?: readonly (readonly [number, number, number])[];
}

export interface CurvePanel {
  readonly title: string;
  readonly series: readonly CurveSeries[];
  /** Horizontal dashed line (e.g. the target accuracy). */
  readonly target?: number;
}

export interface CurveChartOptions {
  readonly panels: readonly CurvePanel[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly title?: string;
  readonly panelWidth?: number;
  readonly panelHeight?: number;
}

const PALETTE = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'];
const MARGIN = { left: 56, right: 16, top: 34, bottom: 44 };

export function renderCurvesSvg(o: CurveChartOptions): string {
  const pw = o.panelWidth ?? 460;
  const ph = o.panelHeight ?? 320;
  const names = [...new Set(o.panels.flatMap((p) => p.series.map((s) => s.name)))];
  const color = (name: string) => PALETTE[names.indexOf(name) % PALETTE.length]!;
  const titleH = o.title ? 28 : 0;
  const legendH = 24;
  const width = pw * Math.max(1, o.panels.length);
  const height = titleH + ph + legendH;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
  if (o.title) parts.push(`<text x="${width / 2}" y="19" text-anchor="middle" font-size="14" font-weight="600">${esc(o.title)}</text>`);
  o.panels.forEach((panel, i) => parts.push(renderPanel(panel, i * pw, titleH, pw, ph, o, color)));
  let lx = 12;
  const ly = titleH + ph + 14;
  for (const name of names) {
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 18}" y2="${ly - 4}" stroke="${color(name)}" stroke-width="2.5"/>`);
    parts.push(`<text x="${lx + 23}" y="${ly}">${esc(name)}</text>`);
    lx += 32 + name.length * 6.5;
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function renderPanel(
  panel: CurvePanel,
  x0: number,
  y0: number,
  pw: number,
  ph: number,
  o: CurveChartOptions,
  color: (name: string) => string,
): string {
  const all = panel.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = [...all.map((p) => p[1]), ...panel.series.flatMap((s) => (s.band ?? []).flatMap((b) => [b[1], b[2]])), ...(panel.target !== undefined ? [panel.target] : [])];
  const xTicks = niceTicks(0, Math.max(1e-9, ...xs));
  const yTicks = niceTicks(Math.min(...ys, 0), Math.max(...ys, 1e-9));
  const [xMin, xMax] = [xTicks[0]!, xTicks[xTicks.length - 1]!];
  const [yMin, yMax] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const left = x0 + MARGIN.left;
  const right = x0 + pw - MARGIN.right;
  const top = y0 + MARGIN.top;
  const bottom = y0 + ph - MARGIN.bottom;
  const sx = (x: number) => left + ((x - xMin) / (xMax - xMin || 1)) * (right - left);
  const sy = (y: number) => bottom - ((y - yMin) / (yMax - yMin || 1)) * (bottom - top);
  const out: string[] = [`<g>`, `<text x="${(left + right) / 2}" y="${y0 + 20}" text-anchor="middle" font-size="12" font-weight="600">${esc(panel.title)}</text>`];
  for (const t of yTicks) {
    out.push(`<line x1="${left}" y1="${f(sy(t))}" x2="${right}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 5}" y="${f(sy(t) + 4)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${f(sx(t))}" y1="${bottom}" x2="${f(sx(t))}" y2="${bottom + 4}" stroke="#999"/>`);
    out.push(`<text x="${f(sx(t))}" y="${bottom + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${(left + right) / 2}" y="${bottom + 34}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(${x0 + 14} ${(top + bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  if (panel.target !== undefined) {
    out.push(`<line x1="${left}" y1="${f(sy(panel.target))}" x2="${right}" y2="${f(sy(panel.target))}" stroke="#555" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${right - 3}" y="${f(sy(panel.target) - 4)}" text-anchor="end" fill="#555">target</text>`);
  }
  for (const s of panel.series) {
    if (s.band !== undefined && s.band.length > 1) {
      const upper = s.band.map(([x, , hi]) => `${f(sx(x))},${f(sy(hi))}`);
      const lower = [...s.band].reverse().map(([x, lo]) => `${f(sx(x))},${f(sy(lo))}`);
      out.push(`<polygon points="${[...upper, ...lower].join(' ')}" fill="${color(s.name)}" fill-opacity="0.15" stroke="none"/>`);
    }
    if (s.points.length === 0) continue;
    const pts = s.points.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${color(s.name)}" stroke-width="2" stroke-linejoin="round"/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="2" fill="${color(s.name)}"/>`);
  }
  out.push('</g>');
  return out.join('\n');
}

/** About five round-numbered ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi))) throw new RangeError(`tick range must be finite, got ${lo}..${hi}`);
  if (hi <= lo) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.floor(lo / step) * step; t < hi + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toLocaleString('en', { maximumFractionDigits: 0 }) : String(Number(v.toPrecision(3)));
}

function f(v: number): string {
  return v.toFixed(1);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
