/** @file Runs the `snell` CLI inside the test process with its output captured. */
import { spawn, type ChildProcess } from "node:child_process";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
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

/** What a spawned CLI process did. */
export interface SpawnedOut { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Starts the CLI from its sources (through tsx, as `npm run snell`) in a child process. */
export function spawnCli(args: string[]): { child: ChildProcess; done: Promise<SpawnedOut> } {
  const cli = ["--import", import.meta.resolve("tsx"), fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url))];
  const child = spawn(process.execPath, [...cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<SpawnedOut>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}
