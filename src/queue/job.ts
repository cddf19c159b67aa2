/** @file What a queued job carries and how it is retried: one sweep run, its id as the job id. */
import type { JobsOptions } from "bullmq";
import type { SweepRun } from "../sweep/grid.js";

/** A job's data: the run (its settings and folder name); the worker's --runs gives the folder's root. */
export type RunJobData = SweepRun;

/** Progress a worker reports while the run trains (job.updateProgress), shown by `snell status`. */
export interface RunProgress {
  epoch: number;
  epochs: number;
  loss: number;
  top1: number | null;
  /** The worker's host and pid, so a stuck run can be found. */
  worker: string;
  /** The pid of its `snell train` child on that host. */
  trainPid: number;
}

/** Crashes are retried this many times in all, with exponential backoff from BACKOFF_MS; user errors never. */
export const ATTEMPTS = 3;
export const BACKOFF_MS = 2000;

/** Job options of a run: the run id as job id, so the same run submitted twice is one job. */
export function jobOptions(run: SweepRun): JobsOptions {
  return {
    jobId: run.id, attempts: ATTEMPTS, backoff: { type: "exponential", delay: BACKOFF_MS },
    // Finished jobs stay (status and report read them); the run folder holds the results anyway.
    removeOnComplete: false, removeOnFail: false,
  };
}
