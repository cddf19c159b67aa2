/** @file `snell submit --queue URL [train options]`: enqueues one `snell train` run (again: nothing new). */
import type { Command } from "commander";
import { withQueue } from "../../queue/client.js";
import { submitRuns, type Submitted } from "../../queue/submit.js";
import { singleRun } from "../../sweep/grid.js";
import { checkOptions } from "../option-rules.js";
import { EXIT, layeredConfig, println, type CliContext } from "./context.js";
import { queueOption, queueTarget } from "./queue-options.js";

/** Train options the queue decides (the folder, resuming) or that only concern an interactive train. */
const QUEUE_DECIDES = new Set(["out", "resume", "overwrite", "json", "progress"]);
/** Keys of the merged config that are not train settings. */
const NOT_SUBMITTED = new Set([...QUEUE_DECIDES, "config", "queue", "retryFailed"]);

/** One line per submitted run. */
export function describeSubmitted(s: Submitted): string {
  const what = s.outcome === "queued" ? "queued" : s.outcome === "requeued" ? "re-queued (was failed)" : `already in the queue (${s.state})`;
  return `${what}: ${s.run.name} (job ${s.run.id})`;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("submit").description("enqueue one training run (the options of `snell train`); the same settings twice are one job");
  cmd.addOption(queueOption(true)).option("--retry-failed", "re-queue the run if its job failed");
  // Every `snell train` option but those above, so a run is written exactly as it would be trained.
  const train = program.commands.find((c) => c.name() === "train");
  for (const o of train?.options ?? []) if (!QUEUE_DECIDES.has(o.attributeName())) cmd.addOption(o);
  cmd.action(async () => {
    const c = layeredConfig(cmd);
    const target = queueTarget(cmd)!;
    const trainConfig = Object.fromEntries(Object.entries(c).filter(([k]) => !NOT_SUBMITTED.has(k)));
    checkOptions(trainConfig);
    const run = singleRun(trainConfig, process.cwd());
    const [s] = await withQueue(target, (q) => submitRuns(q, [run], { retryFailed: Boolean(c.retryFailed) }));
    println(ctx.stdout, describeSubmitted(s!));
    ctx.exitCode = EXIT.ok;
  });
}
