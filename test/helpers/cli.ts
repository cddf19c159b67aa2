/** @file Runs the `snell` CLI in the test process or a child, and the end-to-end checks several backbones' tests share. */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { EXIT, type CliContext } from "../../src/cli/commands/context.js";
import { runCli } from "../../src/cli/main.js";
import { readRunLog } from "../../src/train/run-log.js";

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

/** Resolves once `file` exists; throws when `child` exits first. */
export async function waitForFile(file: string, child: ChildProcess): Promise<void> {
  while (!fs.existsSync(file)) {
    if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before ${file} appeared`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Trains `args` twice, into `straight` and into `killed`; SIGKILLs the second once its first checkpoint
 * exists, resumes it, and asserts it ends with the straight run's adapter bytes and losses.
 */
export async function assertKilledRunResumes(args: string[], straight: string, killed: string): Promise<void> {
  const whole = spawnCli([...args, "--out", straight]).done;
  const p = spawnCli([...args, "--out", killed]);
  await waitForFile(path.join(killed, "checkpoint.safetensors"), p.child);
  p.child.kill("SIGKILL");
  assert.equal((await p.done).signal, "SIGKILL", "the run finished before it could be killed");
  const r = await spawnCli(["train", "--resume", "--out", killed, "--no-progress"]).done;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resumed from .*checkpoint\.safetensors: epoch \d+/);
  assert.equal((await whole).code, 0);
  const bytes = (dir: string) => fs.readFileSync(path.join(dir, "adapter", "adapter_model.safetensors"));
  assert.deepEqual(bytes(killed), bytes(straight));
  const losses = (dir: string) => readRunLog(path.join(dir, "log.jsonl")).map((l) => l.loss);
  assert.deepEqual(losses(killed), losses(straight));
}

/** `snell eval`, `merge` and `export` on a finished run folder succeed and write files of a plausible size. */
export async function assertEvalMergeExport(run: string, outDir: string): Promise<void> {
  const ev = await inProcess(["eval", "--out", run, "--threads", "1"]);
  assert.equal(ev.code, 0, ev.stderr);
  assert.ok(Number.isFinite(Number(/top-1 ([\d.]+)%/.exec(ev.stdout + ev.stderr)?.[1])), ev.stdout + ev.stderr);
  const merged = path.join(outDir, "merged.safetensors"), onnx = path.join(outDir, "model.onnx");
  const m = await inProcess(["merge", "--out", run, "--output", merged]);
  assert.equal(m.code, 0, m.stderr);
  assert.ok(fs.statSync(merged).size > 100_000);
  const x = await inProcess(["export", "--out", run, "--output", onnx]);
  assert.equal(x.code, 0, x.stderr);
  assert.ok(fs.statSync(onnx).size > 100_000);
}

/** A user error: exit 2, one "snell: error:" line matching `re`, no stack. */
export function assertUserError(r: { code: number | null; stderr: string }, re: RegExp): void {
  assert.equal(r.code, EXIT.usage, r.stderr);
  const err = r.stderr.split("\n").filter((l) => l.startsWith("snell: error:"));
  assert.equal(err.length, 1, r.stderr);
  assert.match(err[0]!, re);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "a user error must not print a stack");
}
