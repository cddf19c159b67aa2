/**
 * @file `snell report RUNS_DIR`: the paper's tables from the run folders under RUNS_DIR (VTAB-1k per task
 * with group means, FGVC with the mean, other tasks), best and last top-1 with seeds averaged, as
 * Markdown or CSV, plus a bar chart per group. With --sweep, its runs that have no folder show as missing.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { writeFileAtomic } from "../../checkpoint/atomic.js";
import { reportCharts, writeReportCharts } from "../../report/charts.js";
import { reportCsv, reportMarkdown } from "../../report/format.js";
import { joinSweep, scanRuns } from "../../report/scan.js";
import { buildTables, type Metric } from "../../report/table.js";
import { expandSweep, loadSweep } from "../../sweep/grid.js";
import { checkWritableFile } from "../output-path.js";
import { EXIT, println, type CliContext } from "./context.js";

interface ReportFlags {
  format: "md" | "csv";
  out?: string;
  metric: "best" | "last" | "both";
  sweep?: string;
  charts: string | boolean;
}

const choice = <T extends string>(flag: string, valid: readonly T[]) => (v: string): T => {
  if (!valid.includes(v as T)) throw new InvalidArgumentError(`${flag} must be one of ${valid.join(", ")}, got "${v}"`);
  return v as T;
};

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("report")
    .description("tables of the finished runs under RUNS_DIR: VTAB-1k per task + Natural/Specialized/Structured means, FGVC per dataset + mean, other tasks; one column per method/rank, seeds as mean ± sd (n); failed, running and missing runs marked")
    .argument("<runs-dir>", "folder holding run folders (each with run.json and log.jsonl, as snell train --out and snell sweep write them)")
    .option("--format <md|csv>", "Markdown tables or CSV (one line per cell)", choice("--format", ["md", "csv"] as const), "md")
    .option("--out <file>", "write the report to FILE instead of stdout")
    .option("--metric <best|last|both>", "top-1 best (over the evaluated epochs, what the paper reports), last (final evaluation), or both", choice("--metric", ["best", "last", "both"] as const), "both")
    .option("--sweep <file>", "the sweep file the runs came from: its runs without a folder are listed as missing")
    .option("--charts <dir>", "where the PNG bar charts go (default: the folder of --out, else RUNS_DIR)")
    .option("--no-charts", "write no charts")
    .action(async (runsDir: string) => {
      const o = cmd.opts() as ReportFlags;
      const root = path.resolve(runsDir);
      if (o.out) checkWritableFile(o.out, "--out");
      let runs = scanRuns(root);
      if (o.sweep) runs = joinSweep(runs, expandSweep(loadSweep(o.sweep), path.dirname(path.resolve(o.sweep))));
      const metrics: Metric[] = o.metric === "both" ? ["best", "last"] : [o.metric];
      const tables = buildTables(runs, metrics);
      const text = o.format === "csv" ? reportCsv(tables) : reportMarkdown(tables, runs);
      if (o.out) writeFileAtomic(path.resolve(o.out), text);
      else ctx.stdout.write(text);
      if (o.charts !== false && tables.length > 0) {
        const dir = typeof o.charts === "string" ? path.resolve(o.charts) : o.out ? path.dirname(path.resolve(o.out)) : root;
        const files = await writeReportCharts(dir, reportCharts(tables, metrics[0]));
        for (const f of files) println(ctx.stderr, `chart: ${f}`);
      }
      if (runs.length === 0) println(ctx.stderr, `no run folders (with run.json) under ${root}`);
      ctx.exitCode = EXIT.ok;
    });
}
