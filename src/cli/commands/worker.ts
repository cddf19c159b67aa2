/** @file `snell worker --queue URL --runs DIR`: trains queued runs until stopped (SIGTERM drains it). */
import type { Command } from "commander";
import { runWorker } from "../../queue/worker.js";
import { EXIT, parseInteger, println, type CliContext } from "./context.js";
import { queueOption, queueTarget, runsRoot } from "./queue-options.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("worker").description("train runs from a Redis job queue, each as `snell train` in its own folder under --runs (SIGTERM: checkpoint and hand the runs back)");
  cmd.addOption(queueOption(true))
    .option("--runs <dir>", "root of the run folders (a filesystem every worker reaches)")
    .option("--concurrency <n>", "runs trained at once by this worker (default 1)", parseInteger("--concurrency"))
    .option("--lock-seconds <n>", "job lock lifetime: a killed worker's run is taken over after about twice this (default 30)", parseInteger("--lock-seconds"))
    .action(async () => {
      const o = cmd.opts();
      const target = queueTarget(cmd)!;
      const root = runsRoot(cmd, "(where the workers keep the run folders)");
      await ctx.withInterrupt((signal) => runWorker({
        target, runsRoot: root, concurrency: (o.concurrency as number | undefined) ?? 1, lockSeconds: (o.lockSeconds as number | undefined) ?? 30,
        log: (line) => println(ctx.stderr, `${new Date().toISOString()} ${line}`),
      }, signal));
      ctx.exitCode = EXIT.ok;
    });
}
