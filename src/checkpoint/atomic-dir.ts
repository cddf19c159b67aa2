/**
 * @file Replacing a whole folder at once (an adapter: config + weights must never come from two runs).
 * The new folder is filled under a hidden temp name beside the target, fsynced, and swapped in with two
 * renames (target -> backup, temp -> target). A crash leaves either the old folder, the new one, or a
 * backup with no target; the next call (or recoverDir) restores or removes what it finds.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { fsyncDir } from "./atomic.js";

const TEMP = ".tmp";
const BACKUP = ".old";

function sibling(dir: string, kind: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.${process.pid}.${randomBytes(4).toString("hex")}${kind}`);
}

/** Hidden siblings of `dir` left by replaceDirAtomic, by kind. */
function leftovers(dir: string, kind: string): string[] {
  const prefix = `.${path.basename(dir)}.`;
  let names: string[];
  try {
    names = fs.readdirSync(path.dirname(dir));
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix) && n.endsWith(kind)).map((n) => path.join(path.dirname(dir), n));
}

/**
 * Undoes what a killed replaceDirAtomic left: incomplete temp folders are removed; a backup is moved back
 * when the target is missing (the crash fell between the two renames), else removed. Returns what it did.
 * Call it only while no other writer may be active (the run lock).
 */
export function recoverDir(dir: string): string[] {
  const done: string[] = [];
  for (const t of leftovers(dir, TEMP)) {
    fs.rmSync(t, { recursive: true, force: true });
    done.push(`removed ${t}`);
  }
  for (const b of leftovers(dir, BACKUP)) {
    if (!fs.existsSync(dir)) {
      fs.renameSync(b, dir);
      done.push(`restored ${dir} from ${b}`);
    } else {
      fs.rmSync(b, { recursive: true, force: true });
      done.push(`removed ${b}`);
    }
  }
  return done;
}

/**
 * Replaces folder `dir` by what `fill(tempDir)` writes, so readers see the whole old folder or the whole
 * new one. `fill` must fsync what it writes (writeFileAtomic and writeSafetensors do).
 */
export function replaceDirAtomic(dir: string, fill: (tempDir: string) => void): void {
  recoverDir(dir);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const temp = sibling(dir, TEMP);
  fs.mkdirSync(temp);
  try {
    fill(temp);
    fsyncDir(temp);
  } catch (e) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  const backup = fs.existsSync(dir) ? sibling(dir, BACKUP) : null;
  if (backup) fs.renameSync(dir, backup);
  try {
    fs.renameSync(temp, dir);
  } catch (e) {
    if (backup) fs.renameSync(backup, dir);
    fs.rmSync(temp, { recursive: true, force: true });
    throw e;
  }
  fsyncDir(path.dirname(dir));
  if (backup) fs.rmSync(backup, { recursive: true, force: true });
}
