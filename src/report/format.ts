/**
 * @file The tables as Markdown (for a README or a PR) and as CSV (one line per cell, for a notebook).
 * Cells that did not finish say so: "2 failed", "1 running", "3 missing"; "—" means no run was asked for.
 */
import type { Benchmark } from "./benchmarks.js";
import type { RunRecord } from "./run-record.js";
import type { Cell, ReportTable } from "./table.js";

const TITLES: Record<Benchmark, string> = { "vtab-1k": "VTAB-1k", fgvc: "FGVC", other: "Other tasks" };

function unfinished(c: Cell): string[] {
  return (["failed", "running", "missing"] as const).filter((k) => c[k] > 0).map((k) => `${c[k]} ${k}`);
}

/** Markdown text of one cell: "75.40 ± 1.20 (n=3)", "71.2 (5 of 7 tasks)", "2 failed", "—". */
export function cellText(c: Cell, digits = 2): string {
  const notes = unfinished(c);
  if (!c.stat) return notes.length ? notes.join(", ") : "—";
  let s = c.stat.mean.toFixed(digits);
  if (c.tasks) return c.tasks.have < c.tasks.of ? `${s} (${c.tasks.have} of ${c.tasks.of} tasks)` : s;
  if (c.stat.sd !== null) s += ` ± ${c.stat.sd.toFixed(digits)}`;
  s += ` (n=${c.stat.n})`;
  return notes.length ? `${s}; ${notes.join(", ")}` : s;
}

const mdEscape = (s: string) => s.replace(/\|/g, "\\|");

/** One table in Markdown, with its heading. */
export function tableMarkdown(t: ReportTable): string {
  const head = `### ${TITLES[t.benchmark]}: top-1 ${t.metric} (%)${t.metric === "best" ? " (what the paper reports)" : ""}`;
  const lines = [`| task | ${t.columns.map(mdEscape).join(" | ")} |`, `|---|${t.columns.map(() => "---:").join("|")}|`];
  for (const r of t.rows) {
    const label = r.kind === "task" ? mdEscape(r.label) : `**${mdEscape(r.label)}**`;
    lines.push(`| ${label} | ${r.cells.map((c) => mdEscape(cellText(c))).join(" | ")} |`);
  }
  return [head, "", ...lines].join("\n");
}

/** The unfinished runs with their reasons, so a missing number can be traced to its folder. */
export function unfinishedMarkdown(runs: readonly RunRecord[]): string {
  const bad = runs.filter((r) => r.status !== "finished");
  if (bad.length === 0) return "";
  return ["### Runs without a result", "", ...bad.map((r) => `- \`${r.dir}\` (${r.task}, ${r.method}${r.rank !== null ? `-${r.rank}` : ""}, seed ${r.seed}): **${r.status}**${r.reason ? `: ${r.reason}` : ""}`)].join("\n");
}

/** The whole report in Markdown. */
export function reportMarkdown(tables: readonly ReportTable[], runs: readonly RunRecord[]): string {
  const done = runs.filter((r) => r.status === "finished").length;
  const intro = `${runs.length} runs: ${done} finished, ${runs.length - done} without a result. Cells: mean ± sample sd over seeds (n); group rows: mean of the task means.`;
  return [intro, ...tables.map(tableMarkdown), unfinishedMarkdown(runs)].filter((s) => s !== "").join("\n\n") + "\n";
}

export const CSV_HEADER = ["benchmark", "metric", "row", "kind", "column", "mean", "sd", "n", "failed", "running", "missing", "tasks", "tasks_of"] as const;

const csvField = (v: string | number | null) => {
  const s = v === null ? "" : typeof v === "number" ? String(Number(v.toFixed(6))) : v;
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** The report in CSV: a header, then one line per table cell. */
export function reportCsv(tables: readonly ReportTable[]): string {
  const lines = [CSV_HEADER.join(",")];
  for (const t of tables) {
    for (const r of t.rows) {
      r.cells.forEach((c, j) => {
        lines.push([t.benchmark, t.metric, r.label, r.kind, t.columns[j]!, c.stat?.mean ?? null, c.stat?.sd ?? null, c.stat?.n ?? 0,
          c.failed, c.running, c.missing, c.tasks?.have ?? null, c.tasks?.of ?? null].map(csvField).join(","));
      });
    }
  }
  return lines.join("\n") + "\n";
}
