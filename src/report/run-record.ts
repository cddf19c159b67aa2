/**
 * @file One run folder as the report sees it: its task, method column, seed and lr (from run.json), its
 * status (finished: adapter/ saved; running: a live lock; failed: anything else) and best / last top-1
 * (from log.jsonl). A folder that cannot be read is a failed run with the reason, never skipped.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RUN_JSON } from "../cli/commands/context.js";
import { LOCK_FILE, pidAlive } from "../train/run-lock.js";
import { readRunLog, type EpochRecord } from "../train/run-log.js";
import { RUN_FILES } from "../train/trainer-config.js";
import { classify, taskOfRecipe, type Benchmark } from "./benchmarks.js";

export type RunStatus = "finished" | "running" | "failed" | "missing";

/** What the report needs of one run (or of a sweep entry without a folder: status "missing"). */
export interface RunRecord {
  /** Folder relative to the runs root. */
  dir: string;
  benchmark: Benchmark;
  task: string;
  /** PEFT method id ("snell", "lora", ...) and rank (null for methods without one). */
  method: string;
  rank: number | null;
  lr: number | null;
  seed: number;
  status: RunStatus;
  /** Why a run is not finished (one line). */
  reason?: string;
  /** Highest test top-1 over the evaluated epochs (max of live and EMA, as the authors report); last evaluation's top-1. */
  best: number | null;
  last: number | null;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === "string" && v.trim() !== "" ? v : null);

/** Task of a run.json: its recipe, else the FGVC reader name, else the data folder's name. */
function taskOfRun(config: Json, spec: Json): { benchmark: Benchmark; task: string } {
  const recipe = str(config.recipe);
  const fromRecipe = recipe ? taskOfRecipe(recipe) : null;
  if (fromRecipe) return fromRecipe;
  const fgvc = str(spec.fgvcName) ?? str(config.fgvcName);
  if (fgvc) return classify(fgvc);
  const data = str(spec.data) ?? str(config.data);
  return data ? classify(path.basename(data)) : { benchmark: "other", task: "(no data folder)" };
}

/** Best and last top-1 of a log; nulls when no epoch was evaluated. */
export function accuracyOf(log: readonly EpochRecord[]): { best: number | null; last: number | null; epochs: number } {
  let best: number | null = null, last: number | null = null;
  for (const r of log) {
    const live = num(r.top1), ema = num(r.emaTop1);
    if (live !== null) last = live;
    for (const v of [live, ema]) if (v !== null && (best === null || v > best)) best = v;
  }
  return { best, last, epochs: log.length };
}

/** "running" while a live process on this host holds the lock; a lock from another host cannot be checked. */
function lockState(dir: string): { running: boolean; note?: string } {
  let holder: Json;
  try {
    holder = obj(JSON.parse(fs.readFileSync(path.join(dir, LOCK_FILE), "utf8")));
  } catch {
    return { running: false };
  }
  const pid = num(holder.pid), host = str(holder.host);
  if (host && host !== os.hostname()) return { running: true, note: `locked by ${host} (running there, or killed)` };
  return { running: pid !== null && pidAlive(pid) };
}

const hasFiles = (dir: string) => fs.existsSync(dir) && fs.statSync(dir).isDirectory() && fs.readdirSync(dir).length > 0;

/** Reads the run in `<root>/<dir>` (a folder holding run.json). */
export function readRunRecord(root: string, dir: string): RunRecord {
  const abs = path.join(root, dir);
  let runJson: Json;
  try {
    runJson = obj(JSON.parse(fs.readFileSync(path.join(abs, RUN_JSON), "utf8")));
  } catch (e) {
    return unreadable(dir, `${RUN_JSON} unreadable (${(e as Error).message.split("\n")[0]})`);
  }
  const config = obj(runJson.config), spec = obj(runJson.spec), peft = obj(spec.peft);
  const base = {
    dir, ...taskOfRun(config, spec),
    method: str(peft.method) ?? str(config.method) ?? "snell",
    rank: num(peft.rank) ?? num(config.rank), lr: num(config.lr), seed: num(spec.seed) ?? num(config.seed) ?? 0,
  };
  const epochs = num(config.epochs);
  let acc = { best: null as number | null, last: null as number | null, epochs: 0 };
  const logFile = path.join(abs, RUN_FILES.log);
  try {
    if (fs.existsSync(logFile)) acc = accuracyOf(readRunLog(logFile));
  } catch (e) {
    return { ...base, status: "failed", reason: (e as Error).message, best: null, last: null };
  }
  const scores = { best: acc.best, last: acc.last };
  if (hasFiles(path.join(abs, RUN_FILES.adapter))) {
    if (acc.best === null) return { ...base, status: "failed", reason: "finished without an evaluated epoch in log.jsonl", ...scores };
    return { ...base, status: "finished", ...scores };
  }
  const progress = `${acc.epochs}${epochs !== null ? ` of ${epochs}` : ""} epochs logged`;
  const lock = lockState(abs);
  if (lock.running) return { ...base, status: "running", reason: lock.note ? `${progress}; ${lock.note}` : progress, ...scores };
  return { ...base, status: "failed", reason: `no adapter/ (stopped or crashed; ${progress})`, ...scores };
}

function unreadable(dir: string, reason: string): RunRecord {
  return { dir, benchmark: "other", task: "(unreadable run)", method: "?", rank: null, lr: null, seed: 0, status: "failed", reason, best: null, last: null };
}
