/** @file `snell status`: every job of the queue by state, with live progress and failure reasons. */
import type { Queue } from "bullmq";
import type { RunJobData, RunProgress } from "./job.js";

/** States listed, in this order. */
export const STATES = ["active", "waiting", "prioritized", "delayed", "completed", "failed"] as const;

/** One job as `snell status` shows it. */
export interface StatusRow {
  id: string;
  name: string;
  state: (typeof STATES)[number];
  /** Attempts that ended (failed or retried); 0 while the first runs. */
  attempts: number;
  progress: RunProgress | null;
  /** The failure's one-line reason (failed jobs, and retried ones: the last crash). */
  reason: string | null;
  /** The train result of a completed job (best/last accuracy, seconds). */
  result: Record<string, unknown> | null;
}

/** Reads every job of every state. */
export async function queueStatus(queue: Queue<RunJobData>): Promise<StatusRow[]> {
  const rows: StatusRow[] = [];
  for (const state of STATES) {
    for (const job of await queue.getJobs([state], 0, -1, true)) {
      if (!job) continue;
      const p = job.progress;
      rows.push({
        id: String(job.id), name: String((job.data as RunJobData | undefined)?.name ?? job.name), state, attempts: job.attemptsMade,
        progress: typeof p === "object" && p !== null ? (p as unknown as RunProgress) : null,
        reason: job.failedReason ? String(job.failedReason).split("\n")[0]! : null,
        result: (job.returnvalue as Record<string, unknown> | null) ?? null,
      });
    }
  }
  return rows;
}

const pct = (x: unknown) => (typeof x === "number" ? `${x.toFixed(2)}%` : "-");

/** A point's top-1 in a train result ({ top1 } objects). */
const top1Of = (v: unknown) => (typeof v === "object" && v !== null ? (v as { top1?: unknown }).top1 : undefined);

/** One line per job, then the counts per state. */
export function formatStatus(rows: readonly StatusRow[]): string[] {
  const lines = rows.map((r) => {
    const head = `${r.state.padEnd(9)} ${r.name}`;
    if (r.state === "failed") return `${head}  after ${r.attempts} attempt(s): ${r.reason ?? "no reason recorded"}`;
    if (r.state === "completed") return `${head}  best top-1 ${pct(top1Of(r.result?.best))}, last ${pct(top1Of(r.result?.last))}`;
    const p = r.progress;
    const live = p && p.epoch > 0 ? `  epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)}${p.top1 !== null ? ` top-1 ${pct(p.top1)}` : ""}` : "";
    const where = r.state === "active" && p ? ` on ${p.worker}` : "";
    const retry = r.attempts > 0 ? `  (attempt ${r.attempts + 1}; last: ${r.reason ?? "stalled"})` : "";
    return `${head}${live}${where}${retry}`;
  });
  const counts = STATES.map((s) => [s, rows.filter((r) => r.state === s).length] as const).filter(([, n]) => n > 0);
  lines.push(`${rows.length} job(s): ${counts.map(([s, n]) => `${n} ${s}`).join(", ") || "none"}`);
  return lines;
}
