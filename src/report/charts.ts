/**
 * @file One bar chart per group of the report (VTAB-1k Natural / Specialized / Structured, FGVC, other
 * tasks): its tasks' best top-1 per column with ± sd over seeds, then the group's mean.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeBarChartPng, type BarChart, type BarGroup } from "../plot/bar-chart.js";
import { VTAB_GROUPS } from "./benchmarks.js";
import type { ReportRow, ReportTable } from "./table.js";

/** A chart and the file name it is written under. */
export interface NamedChart {
  file: string;
  chart: BarChart;
}

const barGroup = (r: ReportRow): BarGroup => ({
  label: r.label,
  values: r.cells.map((c) => c.stat?.mean ?? null),
  errors: r.cells.map((c) => c.stat?.sd ?? null),
});

function chartOf(t: ReportTable, name: string, rows: readonly ReportRow[]): BarChart {
  return { title: `${name}: top-1 ${t.metric} (mean ± sd over seeds)`, yLabel: `top-1 ${t.metric} (%)`, series: t.columns, groups: rows.map(barGroup) };
}

/** The charts of the tables of one metric (default: best, what the paper reports). */
export function reportCharts(tables: readonly ReportTable[], metric: "best" | "last" = "best"): NamedChart[] {
  const out: NamedChart[] = [];
  for (const t of tables.filter((x) => x.metric === metric)) {
    if (t.benchmark === "vtab-1k") {
      for (const g of VTAB_GROUPS) {
        const rows = t.rows.filter((r) => r.kind === "task" && g.tasks.includes(r.label));
        if (rows.length === 0) continue;
        const mean = t.rows.find((r) => r.label === `${g.name} (mean)`)!;
        out.push({ file: `report-vtab-${g.name.toLowerCase()}.png`, chart: chartOf(t, `VTAB-1k ${g.name}`, [...rows, mean]) });
      }
    } else {
      out.push({ file: `report-${t.benchmark}.png`, chart: chartOf(t, t.benchmark === "fgvc" ? "FGVC" : "Other tasks", t.rows) });
    }
  }
  return out;
}

/** Writes the charts into `dir`; returns their paths. */
export async function writeReportCharts(dir: string, charts: readonly NamedChart[]): Promise<string[]> {
  const files: string[] = [];
  if (charts.length) fs.mkdirSync(dir, { recursive: true });
  for (const c of charts) files.push(await writeBarChartPng(path.join(dir, c.file), c.chart));
  return files;
}
