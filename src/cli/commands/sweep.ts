/**
 * @file `snell sweep SWEEP.yaml`: a grid of runs (src/sweep/grid.ts documents the file), enqueued with
 * --queue, printed with --dry-run, or else trained here --parallel N at a time.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { withQueue } from "../../queue/client.js";
import { submitRuns } from "../../queue/submit.js";
import { runLocal } from "../../sweep/local.js";
import { expandSweep, loadSweep } from "../../sweep/grid.js";
import { checkOptions } from "../option-rules.js";
import { EXIT, parseInteger, println, type CliContext } from "./context.js";
import { queueOption, queueTarget, runsRoot } from "./queue-options.js";
import { describeSubmitted } from "./submit.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("sweep").description("train a grid of runs (recipes x methods x ranks x seeds x lrs): on a job queue (--queue) or here (--parallel N)")
    .argument("<sweep-file>", "YAML or JSON sweep file (see README, Many runs)");
  cmd.addOption(queueOption(false))
    .option("--runs <dir>", "root of the run folders (local runs and --dry-run)")
    .option("--parallel <n>", "runs trained at once without --queue (default 1)", parseInteger("--parallel"))
    .option("--dry-run", "print the runs (id, folder, settings) and do nothing")
    .option("--retry-failed", "with --queue: re-queue runs whose job failed")
    .action(async (file: string) => {
      const o = cmd.opts();
      const runs = expandSweep(loadSweep(file), path.dirname(path.resolve(file)));
      for (const r of runs) checkOptions(r.config, `${file}, run ${r.name}`);
      const target = queueTarget(cmd);
      if (o.dryRun) {
        const root = o.runs ? path.resolve(o.runs as string) : "<runs>";
        for (const r of runs) println(ctx.stdout, `${r.id}  ${path.join(root, r.name)}  ${JSON.stringify(r.config)}`);
        println(ctx.stdout, `${runs.length} run(s)${target ? "; nothing queued (--dry-run)" : "; nothing trained (--dry-run)"}`);
        ctx.exitCode = EXIT.ok;
        return;
      }
      if (target) {
        const done = await withQueue(target, (q) => submitRuns(q, runs, { retryFailed: Boolean(o.retryFailed) }));
        for (const s of done) println(ctx.stdout, describeSubmitted(s));
        println(ctx.stdout, `${done.filter((s) => s.outcome !== "exists").length} of ${runs.length} run(s) queued`);
        ctx.exitCode = EXIT.ok;
        return;
      }
      const root = runsRoot(cmd, "to train the sweep here (or pass --queue to enqueue it)");
      const results = await ctx.withInterrupt((signal) => runLocal(runs, root, (o.parallel as number | undefined) ?? 1, (l) => println(ctx.stderr, l), signal));
      const failed = results.filter((r) => r.outcome.code !== 0);
      println(ctx.stdout, `${results.length - failed.length} of ${runs.length} run(s) finished in ${path.resolve(root)}${failed.length ? `; failed: ${failed.map((r) => r.run.name).join(", ")}` : ""}`);
      ctx.exitCode = results.length < runs.length ? EXIT.interrupted : failed.length ? EXIT.failure : EXIT.ok;
    });
}
