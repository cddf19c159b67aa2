/** @file `snell status --queue URL`: the queue's jobs, live progress of running ones, reasons of failed ones. */
import type { Command } from "commander";
import { withQueue } from "../../queue/client.js";
import { formatStatus, queueStatus } from "../../queue/status.js";
import { EXIT, println, type CliContext } from "./context.js";
import { queueOption, queueTarget } from "./queue-options.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("status").description("show the queued, running, finished and failed runs of a job queue");
  cmd.addOption(queueOption(true))
    .option("--json", "print the jobs as JSON")
    .action(async () => {
      const rows = await withQueue(queueTarget(cmd)!, queueStatus);
      if (cmd.opts().json) println(ctx.stdout, JSON.stringify(rows));
      else for (const line of formatStatus(rows)) println(ctx.stdout, line);
      ctx.exitCode = EXIT.ok;
    });
}
