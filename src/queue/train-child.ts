/**
 * @file One sweep run as a `snell train` child process in its own folder under the runs root: `--resume`
 * when the folder already holds a run (a killed or drained attempt), progress parsed from the child's
 * epoch lines, and its outcome (exit code, the one-line error, the --json result). The worker and the
 * local `snell sweep` both start runs through here, so kill, resume and the run lock behave as for
 * `snell train` typed by hand.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { writeFileAtomic } from "../checkpoint/atomic.js";
import type { SweepRun } from "../sweep/grid.js";

/** Where the runs' config files live under the runs root (one `<id>.json` per run, written by whoever starts it). */
export const JOBS_DIR = ".snell-jobs";

/** Set in the child's environment: it stops (checkpointing, as on SIGTERM) when its parent process is gone. */
export const EXIT_WITH_PARENT_ENV = "SNELL_EXIT_WITH_PARENT";

/** An epoch line of `snell train` (describeEpoch). */
export interface EpochProgress {
  epoch: number;
  epochs: number;
  loss: number;
  top1: number | null;
}

/** How a child run ended. */
export interface TrainOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The child's last `snell: error: ...` line without the prefix, else how it ended; null on success. */
  error: string | null;
  /** `snell train --json`'s result object on success. */
  result: Record<string, unknown> | null;
  resumed: boolean;
}

const EPOCH_LINE = /^epoch (\d+)\/(\d+): lr \S+ loss (\S+)(?: top-1 ([\d.]+)%)?/;

/** Parses one stderr line of `snell train` into progress, or null. */
export function parseEpochLine(line: string): EpochProgress | null {
  const m = EPOCH_LINE.exec(line);
  if (!m) return null;
  return { epoch: Number(m[1]), epochs: Number(m[2]), loss: Number(m[3]), top1: m[4] !== undefined ? Number(m[4]) : null };
}

/** Why a child that printed no error line ended: its signal or exit code, and its last words. */
function describeEnd(code: number | null, signal: NodeJS.Signals | null, lastLine: string): string {
  const how = signal ? `snell train was killed by ${signal}` : `snell train exited with code ${code}`;
  return lastLine ? `${how} (last output: ${lastLine.slice(0, 200)})` : how;
}

/** The folder of `run` under `runsRoot`. */
export const runDir = (runsRoot: string, run: SweepRun) => path.join(path.resolve(runsRoot), run.name);

/** The argv of the `snell train` child (after node's own flags); writes the run's config file. */
export function trainArgs(run: SweepRun, runsRoot: string): { args: string[]; resumed: boolean } {
  const root = path.resolve(runsRoot);
  const configFile = path.join(root, JOBS_DIR, `${run.id}.json`);
  fs.mkdirSync(path.dirname(configFile), { recursive: true });
  writeFileAtomic(configFile, JSON.stringify(run.config, null, 2) + "\n");
  const dir = runDir(root, run);
  // run.json is written before the first step: a folder with it is a started run, continued from its checkpoint.
  const resumed = fs.existsSync(path.join(dir, "run.json"));
  return { args: ["train", "--config", configFile, "--out", dir, "--no-progress", "--json", ...(resumed ? ["--resume"] : [])], resumed };
}

/** This CLI's own command line (node flags such as tsx's --import, and the entry script), to start a child of the same version. */
function selfCommand(): string[] {
  return [...process.execArgv, process.argv[1]!];
}

/** Starts the run; `onProgress` gets each finished epoch. */
export function startTrain(run: SweepRun, runsRoot: string, onProgress?: (p: EpochProgress) => void): { child: ChildProcess; done: Promise<TrainOutcome> } {
  const { args, resumed } = trainArgs(run, runsRoot);
  const child = spawn(process.execPath, [...selfCommand(), ...args], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, [EXIT_WITH_PARENT_ENV]: "1" },
  });
  let stdout = "", pending = "", lastLine = "", error: string | null = null;
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.trim()) lastLine = line.trim();
      if (line.startsWith("snell: error: ") || line.startsWith("snell: internal error: ")) error = line.replace(/^snell: (internal )?error: /, "");
      const p = parseEpochLine(line);
      if (p && onProgress) onProgress(p);
    }
  });
  const done = new Promise<TrainOutcome>((resolve) => child.on("close", (code, signal) => {
    let result: Record<string, unknown> | null = null;
    try {
      result = code === 0 ? JSON.parse(stdout.trim().split("\n").pop() ?? "") : null;
    } catch {
      result = null;
    }
    resolve({ code, signal, error: code === 0 ? null : error ?? describeEnd(code, signal, lastLine), result, resumed });
  }));
  return { child, done };
}
