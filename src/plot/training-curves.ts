/** @file Training-curve plot: loss and accuracy per method in two panels, drawn as SVG and rasterised to PNG with sharp. */
import { ConfigError } from "../errors.js";
import { esc, FONT, PALETTE, svgToPng, writeSvgPng } from "./svg.js";
import { formatTick, linearScale, niceTicks } from "./ticks.js";

export { PALETTE } from "./svg.js";

/** One method's curves; `null` marks an epoch without that value (e.g. not evaluated). */
export interface CurveSeries {
  /** Legend label, e.g. "SNELL-8". */
  method: string;
  /** x values (1-based epochs read best). */
  epochs: readonly number[];
  /** Training loss per epoch. */
  loss: readonly (number | null)[];
  /** Test top-1 accuracy (percent) per epoch. */
  accuracy: readonly (number | null)[];
}

/** Plot size and labels. */
export interface PlotOptions {
  /** Width in pixels (default 1200). */
  width?: number;
  /** Height in pixels (default 480). */
  height?: number;
  /** Title over both panels. */
  title?: string;
}

interface Panel { x: number; y: number; w: number; h: number; title: string; yLabel: string; key: "loss" | "accuracy" }

function finite(v: number | null | undefined): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function drawPanel(p: Panel, series: readonly CurveSeries[], xTicks: number[]): string {
  const ys = series.flatMap((s) => s[p.key].filter(finite));
  const yTicks = ys.length ? niceTicks(Math.min(...ys), Math.max(...ys), 5) : [0, 1];
  const sx = linearScale(xTicks[0], xTicks[xTicks.length - 1], p.x, p.x + p.w);
  const sy = linearScale(yTicks[0], yTicks[yTicks.length - 1], p.y + p.h, p.y);
  const parts: string[] = [];
  parts.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="#ffffff" stroke="#333333" stroke-width="1"/>`);
  for (const t of yTicks) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${p.x}" y1="${y}" x2="${p.x + p.w}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(`<line x1="${p.x - 5}" y1="${y}" x2="${p.x}" y2="${y}" stroke="#333333"/>`);
    parts.push(`<text x="${p.x - 8}" y="${y}" dy="4" text-anchor="end" font-size="12" ${FONT} fill="#222222">${formatTick(t, yTicks)}</text>`);
  }
  for (const t of xTicks) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${p.y}" x2="${x}" y2="${p.y + p.h}" stroke="#f0f0f0"/>`);
    parts.push(`<line x1="${x}" y1="${p.y + p.h}" x2="${x}" y2="${p.y + p.h + 5}" stroke="#333333"/>`);
    parts.push(`<text x="${x}" y="${p.y + p.h + 20}" text-anchor="middle" font-size="12" ${FONT} fill="#222222">${formatTick(t, xTicks)}</text>`);
  }
  parts.push(`<text x="${p.x + p.w / 2}" y="${p.y - 10}" text-anchor="middle" font-size="15" font-weight="bold" ${FONT} fill="#111111">${esc(p.title)}</text>`);
  parts.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 40}" text-anchor="middle" font-size="13" ${FONT} fill="#222222">epoch</text>`);
  const ly = p.y + p.h / 2;
  parts.push(`<text x="${p.x - 52}" y="${ly}" text-anchor="middle" font-size="13" ${FONT} fill="#222222" transform="rotate(-90 ${p.x - 52} ${ly})">${esc(p.yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.epochs.map((e, j) => [e, s[p.key][j]] as const).filter((q): q is readonly [number, number] => finite(q[1]) && Number.isFinite(q[0]));
    if (pts.length === 0) return;
    const d = pts.map(([e, v], j) => `${j ? "L" : "M"}${sx(e).toFixed(1)},${sy(v).toFixed(1)}`).join(" ");
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2.2" stroke-linejoin="round"/>`);
    // Markers only when sparse (evaluations every N epochs), where a bare line would hide the samples.
    if (pts.length <= 40) {
      for (const [e, v] of pts) parts.push(`<circle cx="${sx(e).toFixed(1)}" cy="${sy(v).toFixed(1)}" r="3" fill="${color}"/>`);
    }
  });
  return parts.join("\n");
}

function drawLegend(series: readonly CurveSeries[], x: number, y: number): string {
  const parts: string[] = [];
  let cx = x;
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    parts.push(`<line x1="${cx}" y1="${y}" x2="${cx + 24}" y2="${y}" stroke="${color}" stroke-width="3"/>`);
    parts.push(`<text x="${cx + 30}" y="${y + 5}" font-size="13" ${FONT} fill="#111111">${esc(s.method)}</text>`);
    cx += 30 + 8 * s.method.length + 28;
  });
  return parts.join("\n");
}

/** Validates series lengths; throws ConfigError naming the series and field. */
function checkSeries(series: readonly CurveSeries[]): void {
  if (series.length === 0) throw new ConfigError("plot: no series to draw");
  for (const s of series) {
    for (const k of ["loss", "accuracy"] as const) {
      if (s[k].length !== s.epochs.length) {
        throw new ConfigError(`plot: series "${s.method}" has ${s.epochs.length} epochs but ${s[k].length} ${k} values`);
      }
    }
  }
}

/** The plot as SVG text: left panel training loss, right panel test accuracy, shared legend on top. */
export function renderTrainingCurvesSvg(series: readonly CurveSeries[], opts: PlotOptions = {}): string {
  checkSeries(series);
  const { width = 1200, height = 480, title = "Training curves" } = opts;
  const xs = series.flatMap((s) => s.epochs.filter((e) => Number.isFinite(e)));
  const xTicks = xs.length ? niceTicks(Math.min(...xs), Math.max(...xs), 6) : [0, 1];
  const top = 96;
  const bottom = 56;
  const left = 80;
  const gap = 100;
  const right = 24;
  const pw = (width - left - gap - right) / 2;
  const ph = height - top - bottom;
  const panels: Panel[] = [
    { x: left, y: top, w: pw, h: ph, title: "Training loss", yLabel: "loss", key: "loss" },
    { x: left + pw + gap, y: top, w: pw, h: ph, title: "Test accuracy (top-1)", yLabel: "accuracy (%)", key: "accuracy" },
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="26" text-anchor="middle" font-size="18" font-weight="bold" ${FONT} fill="#111111">${esc(title)}</text>`,
    drawLegend(series, left, 52),
    ...panels.map((p) => drawPanel(p, series, xTicks)),
    `</svg>`,
  ].join("\n");
}

/** The plot as PNG bytes. */
export async function renderTrainingCurvesPng(series: readonly CurveSeries[], opts: PlotOptions = {}): Promise<Buffer> {
  return svgToPng(renderTrainingCurvesSvg(series, opts));
}

/** Writes the PNG to `file` atomically and returns its path. */
export async function writeTrainingCurvesPng(file: string, series: readonly CurveSeries[], opts: PlotOptions = {}): Promise<string> {
  return writeSvgPng(file, renderTrainingCurvesSvg(series, opts));
}
