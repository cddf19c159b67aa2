/**
 * @file `snell worker`: a BullMQ worker whose jobs are sweep runs, each trained by a `snell train` child
 * in its own folder under the runs root. How a run ends decides the job's fate:
 * - exit 0: completed, with the train result as the job's return value;
 * - exit 2 (bad input: missing data, bad option): failed at once, not retried, the one-line reason kept;
 * - anything else (a crash, a kill): retried with backoff up to ATTEMPTS times, resuming the folder;
 * - stopped because this worker drains (SIGTERM): put back to wait, not failed, to resume elsewhere.
 * A worker killed with -9 stops renewing its job lock; BullMQ's stalled check hands the job to another
 * worker, whose child resumes from the folder's last checkpoint (the dead worker's child stops itself).
 */
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { UnrecoverableError, WaitingError, Worker, type Job } from "bullmq";
import { LOCK_FILE, pidAlive } from "../train/run-lock.js";
import { describeQueue, QUEUE_NAME, type RedisTarget } from "./connection.js";
import type { RunJobData, RunProgress } from "./job.js";
import { runDir, startTrain, type TrainOutcome } from "./train-child.js";

export interface WorkerOptions {
  target: RedisTarget;
  runsRoot: string;
  concurrency: number;
  /** Seconds a job's lock lives without renewal: how soon a killed worker's run is taken over. */
  lockSeconds: number;
  log: (line: string) => void;
}

/** Times a job may be found stalled (its worker gone) and restarted before BullMQ fails it. */
export const MAX_STALLED = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits while the run folder is locked by a live process on this host: the child of a killed worker
 * finishing its last step and checkpoint. A lock from another host is left to `snell train` to report.
 */
async function waitForRunLock(dir: string, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    let holder: { pid?: number; host?: string };
    try {
      holder = JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8"));
    } catch {
      return;
    }
    if (holder.host !== os.hostname() || typeof holder.pid !== "number" || !pidAlive(holder.pid)) return;
    await sleep(250);
  }
}

/** The job's fate from the child's outcome (see the file comment); returns the job's result on success. */
export async function settle(job: Pick<Job<RunJobData>, "moveToWait">, token: string | undefined, out: TrainOutcome, draining: boolean): Promise<Record<string, unknown>> {
  if (out.code === 0) return { ...(out.result ?? {}), resumed: out.resumed };
  if (draining) {
    // Drained (the child checkpointed and exited 143), or killed while we drained: back to wait, not failed.
    await job.moveToWait(token);
    throw new WaitingError();
  }
  const reason = out.error ?? `snell train exited with ${out.code ?? out.signal}`;
  // Exit 2 is bad input, which a retry cannot fix; a folder held by another process is not bad input.
  if (out.code === 2 && !/ is in use: /.test(reason)) throw new UnrecoverableError(reason);
  throw new Error(reason);
}

/** Runs a worker until `signal` aborts, then drains: running children checkpoint, their jobs go back to wait. */
export async function runWorker(o: WorkerOptions, signal: AbortSignal): Promise<void> {
  const me = `${os.hostname()}:${process.pid}`;
  const children = new Set<ChildProcess>();
  let draining = false;
  const process_ = async (job: Job<RunJobData>, token?: string) => {
    const run = job.data;
    const dir = runDir(o.runsRoot, run);
    await waitForRunLock(dir, o.lockSeconds * 4000);
    o.log(`start ${run.name} (job ${job.id}, attempt ${job.attemptsMade + 1})`);
    let trainPid = 0;
    const report = (p: Omit<RunProgress, "worker" | "trainPid">) => void job.updateProgress({ ...p, worker: me, trainPid }).catch(() => undefined);
    const { child, done } = startTrain(run, o.runsRoot, report);
    trainPid = child.pid ?? 0;
    report({ epoch: 0, epochs: Number(run.config.epochs ?? 0), loss: NaN, top1: null });
    children.add(child);
    const out = await done;
    children.delete(child);
    return settle(job, token, out, draining);
  };
  const worker = new Worker<RunJobData>(QUEUE_NAME, process_, {
    connection: { ...o.target }, concurrency: o.concurrency, autorun: false,
    lockDuration: o.lockSeconds * 1000, stalledInterval: o.lockSeconds * 1000, maxStalledCount: MAX_STALLED,
  });
  let lastError = "";
  worker.on("error", (e) => {
    // A Redis restart shows up here once per reconnect attempt; ioredis reconnects on its own.
    if (e.message !== lastError) o.log(`queue: ${e.message}`);
    lastError = e.message;
  });
  worker.on("completed", (job) => o.log(`done ${job.data.name}`));
  worker.on("failed", (job, e) => {
    if (job && !(e instanceof WaitingError) && e.name !== "WaitingError") o.log(`failed ${job.data.name}: ${e.message}`);
  });
  const stop = () => {
    draining = true;
    o.log(`draining: ${children.size} running job(s) checkpoint and go back to the queue`);
    for (const c of children) c.kill("SIGTERM");
    // With nothing running there is nothing to hand back: close at once, even with Redis unreachable.
    void worker.close(children.size === 0);
  };
  if (signal.aborted) return;
  signal.addEventListener("abort", stop, { once: true });
  o.log(`worker ${me} on ${describeQueue(o.target)} queue ${QUEUE_NAME}, runs in ${path.resolve(o.runsRoot)}, concurrency ${o.concurrency}`);
  await worker.run();
  await worker.close();
}
