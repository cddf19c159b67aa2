/** @file Runs the `snell` CLI inside the test process with its output captured. */
import { Writable } from "node:stream";
import type { CliContext } from "../../src/cli/commands/context.js";
import { runCli } from "../../src/cli/main.js";

/** Runs the CLI on `args` in this process; returns its exit code and what it wrote. */
export async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "", stderr = "";
  const sink = (f: (s: string) => void) => new Writable({ write(chunk, _e, cb) { f(String(chunk)); cb(); } });
  const ctx: CliContext = {
    stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), exitCode: 0,
    withInterrupt: (body) => body(new AbortController().signal),
  };
  const code = await runCli(args, ctx);
  return { code, stdout, stderr };
}
