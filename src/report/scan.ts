/**
 * @file Finds the runs under a runs root: every folder holding run.json (a sweep's flat layout or any
 * nesting), plus, given a sweep, each of its runs that has no folder yet ("missing"). Folders that hold
 * a run's files but no run.json are reported as failed, so nothing under the root is dropped unseen.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RUN_JSON } from "../cli/commands/context.js";
import { ConfigError } from "../errors.js";
import type { SweepRun } from "../sweep/grid.js";
import { RUN_FILES } from "../train/trainer-config.js";
import { classify, taskOfRecipe } from "./benchmarks.js";
import { readRunRecord, type RunRecord } from "./run-record.js";

/** How deep below the root run folders are looked for (a sweep writes them one level down). */
const MAX_DEPTH = 4;

function walk(root: string, rel: string, depth: number, out: RunRecord[]): void {
  const abs = path.join(root, rel);
  const names = fs.readdirSync(abs);
  if (names.includes(RUN_JSON)) {
    out.push(readRunRecord(root, rel));
    return;
  }
  if (rel && (names.includes(RUN_FILES.log) || names.includes(RUN_FILES.checkpoint))) {
    out.push({ dir: rel, benchmark: "other", task: "(unreadable run)", method: "?", rank: null, lr: null, seed: 0, status: "failed", reason: `no ${RUN_JSON}`, best: null, last: null });
    return;
  }
  if (depth >= MAX_DEPTH) return;
  for (const n of names.sort()) {
    if (n.startsWith(".")) continue;
    if (fs.statSync(path.join(abs, n)).isDirectory()) walk(root, rel ? path.join(rel, n) : n, depth + 1, out);
  }
}

/** Every run folder under `root`, sorted by folder. */
export function scanRuns(root: string): RunRecord[] {
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new ConfigError(`runs folder ${root} does not exist or is not a folder`);
  const out: RunRecord[] = [];
  walk(root, "", 0, out);
  return out.sort((a, b) => a.dir.localeCompare(b.dir));
}

/** A sweep run's task, as its recipe or its entry name says. */
function sweepTask(r: SweepRun) {
  return (r.recipe ? taskOfRecipe(r.recipe) : null) ?? classify(r.task);
}

/**
 * The runs of a sweep: its folders' records, in sweep order, with the sweep's task naming (so a run and a
 * missing seed of it share a row), and a "missing" record for each run without a folder. Folders under
 * the root that are not in the sweep follow.
 */
export function joinSweep(found: readonly RunRecord[], sweep: readonly SweepRun[]): RunRecord[] {
  const byDir = new Map(found.map((r) => [r.dir, r]));
  const out: RunRecord[] = [];
  for (const s of sweep) {
    const task = sweepTask(s);
    const rec = byDir.get(s.name);
    byDir.delete(s.name);
    if (rec) out.push(rec.task === "(unreadable run)" ? { ...rec, ...task, method: s.method, rank: s.rank, lr: s.lr, seed: s.seed } : { ...rec, ...task });
    else out.push({ dir: s.name, ...task, method: s.method, rank: s.rank, lr: s.lr, seed: s.seed, status: "missing", reason: "no run folder (not started yet, or refused before writing run.json: snell status says why)", best: null, last: null });
  }
  return [...out, ...byDir.values()];
}
