/** @file The options the queue commands share (worker, submit, sweep, status). */
import { Option, type Command } from "commander";
import { ConfigError } from "../../errors.js";
import { parseQueueUrl, type RedisTarget } from "../../queue/connection.js";

/** `--queue redis://HOST:PORT[/db]`. */
export function queueOption(required: boolean): Option {
  const o = new Option("--queue <url>", "Redis of the job queue: redis://HOST:PORT[/db]");
  return required ? o.makeOptionMandatory() : o;
}

/** The parsed --queue of a command, or null when not given. */
export function queueTarget(cmd: Command): RedisTarget | null {
  const url = cmd.opts().queue as string | undefined;
  return url === undefined ? null : parseQueueUrl(url);
}

/** --runs, required by the commands that train or name run folders. */
export function runsRoot(cmd: Command, why: string): string {
  const dir = cmd.opts().runs as string | undefined;
  if (!dir) throw new ConfigError(`--runs DIR is required ${why}`);
  return dir;
}
