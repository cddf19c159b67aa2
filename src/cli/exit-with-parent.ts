/**
 * @file A `snell train` started by `snell worker` or `snell sweep` stops when that parent is gone (killed
 * with -9, its machine session lost): otherwise it would go on writing in the run folder while the queue
 * hands the same run to another worker. It stops as on SIGTERM (finish the step, checkpoint, exit 143),
 * so the run resumes from there. Node has no parent-death signal; a reparented process sees its ppid change.
 */
import { EXIT_WITH_PARENT_ENV } from "../queue/train-child.js";

const POLL_MS = 500;

/** Starts watching when the parent asked for it (the environment variable); the timer never keeps the process alive. */
export function exitWithParent(env: NodeJS.ProcessEnv = process.env): void {
  if (env[EXIT_WITH_PARENT_ENV] !== "1") return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
  }, POLL_MS);
  timer.unref();
}
