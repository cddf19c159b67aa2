/**
 * @file The run folder `snell train --out` owns: refused when it already holds a run (unless --resume or
 * --overwrite), locked while training, cleared of a killed run's temp files, and on --overwrite emptied
 * of the old run's files only after everything was validated.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { recoverDir } from "../checkpoint/atomic-dir.js";
import { removeStaleTemps } from "../checkpoint/atomic.js";
import { ConfigError } from "../errors.js";
import { acquireRunLock, LOCK_FILE, pidAlive, type RunLock } from "../train/run-lock.js";
import { RUN_FILES } from "../train/trainer.js";
import { RUN_JSON } from "./commands/context.js";

/** Files of a run (what --overwrite removes); anything else in the folder is left alone. */
export const RUN_FOLDER_FILES = [RUN_JSON, RUN_FILES.checkpoint, RUN_FILES.log] as const;
export const RUN_FOLDER_DIRS = [RUN_FILES.adapter, RUN_FILES.bestAdapter] as const;

/** Hidden leftovers of our writers (temp files, the lock's temp and aside names, adapter swap folders). */
const isLeftover = (n: string) => n === LOCK_FILE || (n.startsWith(".") && /\.(tmp|old|stale)$/.test(n));

/** What is in `out` besides the lock and leftovers; [] when it does not exist. */
export function runFolderEntries(out: string): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(out);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  if (!st.isDirectory()) throw new ConfigError(`--out ${out} is a file, not a folder`);
  return fs.readdirSync(out).filter((n) => !isLeftover(n)).sort();
}

/** Refuses a folder that already holds something unless the user said --resume or --overwrite. */
export function checkOutFolder(out: string, opts: { resume?: unknown; overwrite?: unknown }): void {
  if (opts.resume && opts.overwrite) throw new ConfigError("--resume continues the run in --out and --overwrite replaces it: pass one of them");
  if (opts.resume || opts.overwrite) {
    runFolderEntries(out);
    return;
  }
  const entries = runFolderEntries(out);
  if (entries.length === 0) return;
  const shown = entries.slice(0, 4).join(", ") + (entries.length > 4 ? `, ... (${entries.length} entries)` : "");
  const what = entries.includes(RUN_JSON) ? "a run" : "other files";
  throw new ConfigError(`--out ${out} already holds ${what} (${shown}); pass --resume to continue it, --overwrite to replace it, or choose another --out`);
}

/**
 * Takes the folder's lock, checks it again (another process may have trained there since the first
 * check), cleans what killed writers left, and with `overwrite` removes the previous run's files.
 * Call after all validation and before the first write; release the lock when done.
 */
export function prepareRunFolder(out: string, opts: { resume?: unknown; overwrite?: unknown }): RunLock {
  const lock = acquireRunLock(out);
  try {
    checkOutFolder(out, opts);
    cleanLeftovers(out);
    if (opts.overwrite) setAsidePrevious(out);
    return lock;
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** Removes temp files of killed writers and restores or removes half-swapped adapter folders. */
export function cleanLeftovers(out: string): void {
  for (const f of RUN_FOLDER_FILES) removeStaleTemps(path.join(out, f));
  for (const d of RUN_FOLDER_DIRS) recoverDir(path.join(out, d));
  // The lock's temp names carry their pid: only a dead process's are removed (a live one may be linking).
  for (const n of fs.readdirSync(out)) {
    const m = new RegExp(`^\\${LOCK_FILE}\\.(\\d+)\\.[0-9a-f]+\\.(tmp|stale)$`).exec(n);
    if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(out, n), { force: true });
  }
}

/**
 * Where --overwrite keeps the previous run until the new one has finished: a failed replacement (bad
 * image mid-epoch, NaN loss, full disk) puts it back, so only a successful train changes the folder.
 */
export const PREVIOUS_RUN = ".previous-run.old";

function moveRunFiles(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true });
  for (const n of [...RUN_FOLDER_FILES, ...RUN_FOLDER_DIRS]) {
    if (fs.existsSync(path.join(from, n))) fs.renameSync(path.join(from, n), path.join(to, n));
  }
}

/** Moves the previous run's files into `<out>/.previous-run.old/` (replacing an older aside). */
export function setAsidePrevious(out: string): void {
  const aside = path.join(out, PREVIOUS_RUN);
  fs.rmSync(aside, { recursive: true, force: true });
  moveRunFiles(out, aside);
}

/** After a --overwrite train: success drops the previous run; failure removes the new files and restores it. */
export function settlePrevious(out: string, succeeded: boolean): void {
  const aside = path.join(out, PREVIOUS_RUN);
  if (!fs.existsSync(aside)) return;
  if (!succeeded) {
    for (const f of RUN_FOLDER_FILES) fs.rmSync(path.join(out, f), { force: true });
    for (const d of RUN_FOLDER_DIRS) fs.rmSync(path.join(out, d), { recursive: true, force: true });
    moveRunFiles(aside, out);
  }
  fs.rmSync(aside, { recursive: true, force: true });
}
