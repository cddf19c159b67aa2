/**
 * @file `snell sweep` without a queue: the runs on this machine, `parallel` `snell train` children at a
 * time, each in its own folder (resumed when it holds a started run). Ctrl-C / SIGTERM stop the
 * children (they checkpoint) and start no more runs.
 */
import type { ChildProcess } from "node:child_process";
import { startTrain, type TrainOutcome } from "../queue/train-child.js";
import type { SweepRun } from "./grid.js";

/** How each run ended. */
export interface LocalResult {
  run: SweepRun;
  outcome: TrainOutcome;
}

/** Runs everything, at most `parallel` at once, in order; `log` gets one line per start and end. */
export async function runLocal(runs: readonly SweepRun[], runsRoot: string, parallel: number, log: (line: string) => void, signal: AbortSignal): Promise<LocalResult[]> {
  const results: LocalResult[] = [];
  const running = new Set<ChildProcess>();
  let next = 0;
  signal.addEventListener("abort", () => { for (const c of running) c.kill("SIGTERM"); }, { once: true });
  const lane = async () => {
    while (next < runs.length && !signal.aborted) {
      const run = runs[next++]!;
      log(`start ${run.name}`);
      const { child, done } = startTrain(run, runsRoot, (p) => log(`${run.name}: epoch ${p.epoch}/${p.epochs} loss ${p.loss.toFixed(4)}${p.top1 !== null ? ` top-1 ${p.top1.toFixed(2)}%` : ""}`));
      running.add(child);
      const outcome = await done;
      running.delete(child);
      results.push({ run, outcome });
      log(outcome.code === 0 ? `done ${run.name}` : `failed ${run.name}: ${outcome.error ?? `exit ${outcome.code ?? outcome.signal}`}`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, runs.length)) }, lane));
  return results;
}
