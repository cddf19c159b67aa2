/** @file Enqueueing runs: one job per run, its id the run id, so submitting the same settings again adds nothing. */
import type { Queue } from "bullmq";
import type { SweepRun } from "../sweep/grid.js";
import type { RunJobData } from "./job.js";
import { jobOptions } from "./job.js";

/** What happened to one submitted run: newly queued, re-queued (a failed job with `retryFailed`), or already there in `state`. */
export interface Submitted {
  run: SweepRun;
  outcome: "queued" | "requeued" | "exists";
  state: string;
}

/** Adds each run unless its job exists; with `retryFailed`, a failed job is retried instead. */
export async function submitRuns(queue: Queue<RunJobData>, runs: readonly SweepRun[], { retryFailed = false } = {}): Promise<Submitted[]> {
  const out: Submitted[] = [];
  for (const run of runs) {
    const existing = await queue.getJob(run.id);
    if (existing) {
      const state = await existing.getState();
      if (state === "failed" && retryFailed) {
        await existing.retry("failed", { resetAttemptsMade: true });
        out.push({ run, outcome: "requeued", state: "waiting" });
      } else out.push({ run, outcome: "exists", state });
      continue;
    }
    // Two submitters racing: BullMQ's add with an existing jobId keeps the first job.
    await queue.add(run.name, run, jobOptions(run));
    out.push({ run, outcome: "queued", state: "waiting" });
  }
  return out;
}
