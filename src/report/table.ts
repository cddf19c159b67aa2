/**
 * @file The report's tables, as data: per benchmark and metric (best / last top-1), one row per task with
 * seeds averaged (mean, sd, n) and counts of failed, running and missing runs; VTAB-1k adds a row per
 * group (mean of its task means) and the mean of the groups, FGVC the mean of its datasets.
 */
import { FGVC_GROUP, taskOrder, VTAB_GROUPS, type Benchmark, type TaskGroup } from "./benchmarks.js";
import { assignColumns } from "./columns.js";
import type { RunRecord } from "./run-record.js";
import { summarise, type Summary } from "./stats.js";

export type Metric = "best" | "last";

/** One cell. Task rows: seeds of finished runs, and the runs that did not finish. Group rows: `tasks` too. */
export interface Cell {
  stat: Summary | null;
  failed: number;
  running: number;
  missing: number;
  /** Group and mean rows: tasks with a value in this column, of the tasks the group has. */
  tasks?: { have: number; of: number };
}

export interface ReportRow {
  label: string;
  kind: "task" | "group" | "mean";
  cells: Cell[];
}

export interface ReportTable {
  benchmark: Benchmark;
  metric: Metric;
  columns: string[];
  rows: ReportRow[];
}

const emptyCell = (): Cell => ({ stat: null, failed: 0, running: 0, missing: 0 });

function taskCell(runs: readonly RunRecord[], metric: Metric): Cell {
  const c = emptyCell();
  const values: number[] = [];
  for (const r of runs) {
    if (r.status === "finished" && r[metric] !== null) values.push(r[metric]!);
    else if (r.status === "finished") c.failed++;
    else c[r.status]++;
  }
  c.stat = summarise(values);
  return c;
}

/** Mean of the means present; `of` is how many there should be. */
function meanCell(means: readonly (number | null)[], have: number, of: number): Cell {
  const xs = means.filter((m): m is number => m !== null);
  const s = summarise(xs);
  return { ...emptyCell(), stat: s ? { mean: s.mean, sd: null, n: s.n } : null, tasks: { have, of } };
}

/** Group row from task rows: mean over the group's tasks that have a value per column. */
function groupRow(label: string, kind: "group" | "mean", group: TaskGroup, rows: ReadonlyMap<string, ReportRow>, width: number): ReportRow {
  const cells = Array.from({ length: width }, (_, j) => {
    const means = group.tasks.map((t) => rows.get(t)?.cells[j]!.stat?.mean ?? null);
    return meanCell(means, means.filter((m) => m !== null).length, group.tasks.length);
  });
  return { label, kind, cells };
}

/** One benchmark's table for one metric. */
export function buildTable(benchmark: Benchmark, runs: readonly RunRecord[], metric: Metric): ReportTable {
  const mine = runs.filter((r) => r.benchmark === benchmark);
  const { columns, columnOf } = assignColumns(mine);
  const taskRows = new Map<string, ReportRow>();
  for (const task of taskOrder(benchmark, mine.map((r) => r.task))) {
    const ofTask = mine.filter((r) => r.task === task);
    taskRows.set(task, { label: task, kind: "task", cells: columns.map((col) => taskCell(ofTask.filter((r) => columnOf(r) === col), metric)) });
  }
  const rows: ReportRow[] = [];
  if (benchmark === "vtab-1k") {
    const groupRows = VTAB_GROUPS.map((g) => groupRow(`${g.name} (mean)`, "group", g, taskRows, columns.length));
    VTAB_GROUPS.forEach((g, i) => {
      const present = g.tasks.filter((t) => taskRows.has(t));
      if (present.length === 0) return;
      rows.push(...present.map((t) => taskRows.get(t)!), groupRows[i]!);
    });
    // Tasks the groups do not list cannot occur (classify() only says vtab-1k for listed names).
    rows.push({
      label: "Mean of the 3 groups", kind: "mean",
      cells: columns.map((_, j) => {
        const cs = groupRows.map((r) => r.cells[j]!);
        return meanCell(cs.map((c) => (c.tasks!.have > 0 ? c.stat!.mean : null)), cs.reduce((a, c) => a + c.tasks!.have, 0), cs.reduce((a, c) => a + c.tasks!.of, 0));
      }),
    });
  } else {
    rows.push(...taskRows.values());
    if (benchmark === "fgvc") rows.push(groupRow("Mean", "mean", FGVC_GROUP, taskRows, columns.length));
  }
  return { benchmark, metric, columns, rows };
}

/** Every table the runs call for: VTAB-1k, FGVC, other (those with runs), best then last. */
export function buildTables(runs: readonly RunRecord[], metrics: readonly Metric[] = ["best", "last"]): ReportTable[] {
  const present = (["vtab-1k", "fgvc", "other"] as const).filter((b) => runs.some((r) => r.benchmark === b));
  return present.flatMap((b) => metrics.map((m) => buildTable(b, runs, m)));
}
