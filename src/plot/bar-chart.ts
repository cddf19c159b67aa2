/**
 * @file Grouped bar chart (one group per task, one bar per series, optional ± error bars), drawn as SVG
 * and rasterised with sharp like the training curves. Bars start at 0 so their lengths compare honestly;
 * a missing value is marked "n/a" at its place instead of leaving a silent gap.
 */
import { ConfigError } from "../errors.js";
import { esc, FONT, PALETTE, svgToPng, writeSvgPng } from "./svg.js";
import { formatTick, linearScale, niceTicks } from "./ticks.js";

/** One group of bars (an x position): a value and optional error half-width per series. */
export interface BarGroup {
  label: string;
  values: readonly (number | null)[];
  errors?: readonly (number | null)[];
}

export interface BarChart {
  title: string;
  yLabel: string;
  /** Legend labels, one per bar of each group. */
  series: readonly string[];
  groups: readonly BarGroup[];
}

const ok = (v: number | null | undefined): v is number => typeof v === "number" && Number.isFinite(v);

function check(c: BarChart): void {
  if (c.series.length === 0 || c.groups.length === 0) throw new ConfigError("bar chart: nothing to draw (no series or no groups)");
  for (const g of c.groups) {
    if (g.values.length !== c.series.length || (g.errors && g.errors.length !== c.series.length)) {
      throw new ConfigError(`bar chart: group "${g.label}" has ${g.values.length} values for ${c.series.length} series`);
    }
  }
}

function legend(series: readonly string[], x: number, y: number): string {
  let cx = x;
  return series.map((s, i) => {
    const part = `<rect x="${cx}" y="${y - 9}" width="14" height="14" fill="${PALETTE[i % PALETTE.length]}"/>` +
      `<text x="${cx + 20}" y="${y + 3}" font-size="13" ${FONT} fill="#111111">${esc(s)}</text>`;
    cx += 20 + 8 * s.length + 24;
    return part;
  }).join("\n");
}

/** The chart as SVG text; the width grows with the number of bars. */
export function renderBarChartSvg(c: BarChart): string {
  check(c);
  const bar = 22, gap = 28, left = 80, right = 24, top = 86, plotH = 300, labelH = 110;
  const groupW = c.series.length * bar + gap;
  const width = Math.max(640, left + right + c.groups.length * groupW);
  const height = top + plotH + labelH;
  const tops = c.groups.flatMap((g) => g.values.map((v, i) => (ok(v) ? v + (ok(g.errors?.[i]) ? g.errors![i]! : 0) : null)).filter(ok));
  const ticks = niceTicks(0, tops.length ? Math.max(...tops) : 1, 5);
  const sy = linearScale(ticks[0]!, ticks[ticks.length - 1]!, top + plotH, top);
  const plotW = width - left - right;
  const x0 = left + (plotW - c.groups.length * groupW) / 2 + gap / 2;
  const p: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold" ${FONT} fill="#111111">${esc(c.title)}</text>`,
    legend(c.series, left, 56),
  ];
  for (const t of ticks) {
    const y = sy(t).toFixed(1);
    p.push(`<line x1="${left}" y1="${y}" x2="${width - right}" y2="${y}" stroke="#e5e5e5"/>`);
    p.push(`<text x="${left - 8}" y="${y}" dy="4" text-anchor="end" font-size="12" ${FONT} fill="#222222">${formatTick(t, ticks)}</text>`);
  }
  const ly = top + plotH / 2;
  p.push(`<text x="${left - 52}" y="${ly}" text-anchor="middle" font-size="13" ${FONT} fill="#222222" transform="rotate(-90 ${left - 52} ${ly})">${esc(c.yLabel)}</text>`);
  const base = sy(0);
  c.groups.forEach((g, gi) => {
    const gx = x0 + gi * groupW;
    g.values.forEach((v, i) => {
      const x = gx + i * bar, cx = (x + bar / 2).toFixed(1);
      if (!ok(v)) {
        p.push(`<text x="${cx}" y="${(base - 4).toFixed(1)}" text-anchor="middle" font-size="10" ${FONT} fill="#b00000">n/a</text>`);
        return;
      }
      p.push(`<rect x="${(x + 1).toFixed(1)}" y="${sy(v).toFixed(1)}" width="${bar - 2}" height="${(base - sy(v)).toFixed(1)}" fill="${PALETTE[i % PALETTE.length]}"/>`);
      const e = g.errors?.[i];
      if (ok(e) && e > 0) {
        const [y1, y2] = [sy(v - e).toFixed(1), sy(v + e).toFixed(1)];
        p.push(`<path d="M${cx},${y1} V${y2} M${(x + 6).toFixed(1)},${y1} H${(x + bar - 6).toFixed(1)} M${(x + 6).toFixed(1)},${y2} H${(x + bar - 6).toFixed(1)}" stroke="#111111" stroke-width="1.2" fill="none"/>`);
      }
      p.push(`<text x="${cx}" y="${(sy(v + (ok(e) ? e : 0)) - 4).toFixed(1)}" text-anchor="middle" font-size="9" ${FONT} fill="#222222">${v.toFixed(1)}</text>`);
    });
    const lx = gx + (c.series.length * bar) / 2, lyy = top + plotH + 16;
    p.push(`<text x="${lx.toFixed(1)}" y="${lyy}" text-anchor="end" font-size="12" ${FONT} fill="#222222" transform="rotate(-30 ${lx.toFixed(1)} ${lyy})">${esc(g.label)}</text>`);
  });
  p.push(`<line x1="${left}" y1="${base.toFixed(1)}" x2="${width - right}" y2="${base.toFixed(1)}" stroke="#333333"/>`);
  p.push(`</svg>`);
  return p.join("\n");
}

/** The chart as PNG bytes. */
export function renderBarChartPng(c: BarChart): Promise<Buffer> {
  return svgToPng(renderBarChartSvg(c));
}

/** Writes the chart's PNG to `file` atomically and returns its path. */
export function writeBarChartPng(file: string, c: BarChart): Promise<string> {
  return writeSvgPng(file, renderBarChartSvg(c));
}
