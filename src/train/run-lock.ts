/**
 * @file One writer per run folder: `snell train` (and `--resume`) hold `<out>/.lock`, a file naming the
 * holder's pid and host, for as long as they write there. A second writer fails with one line naming
 * the holder. A lock whose pid no longer runs on this host (killed, crashed) is stale and taken over.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { ConfigError } from "../errors.js";

/** The lock file's name inside a run folder. */
export const LOCK_FILE = ".lock";

/** What the lock file holds. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  since: string;
}

/** A held lock; release() removes the file if it is still ours. */
export interface RunLock {
  readonly file: string;
  release(): void;
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(fs.readFileSync(file, "utf8")) as LockHolder;
    return Number.isSafeInteger(h.pid) && typeof h.host === "string" ? h : null;
  } catch {
    return null;
  }
}

/** True when `pid` runs on this machine (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
}

/**
 * True when `pid` has exited but was not reaped: a `snell train` whose parent worker was killed is
 * reparented to PID 1, which in some containers never reaps, so signal 0 still reaches its zombie.
 */
function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false; // no procfs (macOS): signal 0 is all we have
  }
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ")".
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
}

/** A holder is stale when it is on this host and its process is gone; other hosts cannot be checked. */
function isStale(h: LockHolder | null): boolean {
  if (h) return h.host === os.hostname() && !pidAlive(h.pid);
  // Unreadable: a writer is never seen half-done (the file is linked in complete), so this is damage.
  return true;
}

/**
 * Creates the lock with its content in one step: written to a temp file, then hard-linked to the lock
 * name, which fails if any lock exists. Returns false when one does.
 */
function tryCreate(file: string, me: LockHolder): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(me) + "\n");
  try {
    fs.linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Moves a stale lock aside and deletes it. If, between our read and the move, another process replaced it
 * with a live lock, that lock is put back and we report it as held.
 */
function removeStale(file: string, seen: string): boolean {
  const aside = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return true;
    throw e;
  }
  const moved = fs.readFileSync(aside, "utf8");
  if (moved !== seen) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // Someone locked meanwhile; theirs stands.
    }
    fs.rmSync(aside, { force: true });
    return false;
  }
  fs.rmSync(aside, { force: true });
  return true;
}

function describeHolder(h: LockHolder | null): string {
  return h ? `process ${h.pid} on ${h.host} (since ${h.since})` : "another process";
}

/**
 * Takes the lock of run folder `dir` (created if missing), or throws a ConfigError naming the holder.
 * Hold it from before the first write into the folder until the last.
 */
export function acquireRunLock(dir: string, { what = "training" }: { what?: string } = {}): RunLock {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file, me)) return heldLock(file, me);
    let seen: string;
    try {
      seen = fs.readFileSync(file, "utf8");
    } catch {
      continue; // released between our try and our read
    }
    const h = readHolder(file);
    if (!isStale(h) || !removeStale(file, seen)) {
      throw new ConfigError(`${dir} is in use: ${describeHolder(h)} is ${what} there (lock ${file}); wait for it, or remove the lock if that process is gone`);
    }
  }
  throw new ConfigError(`${dir}: could not take the lock ${file} (other processes keep taking it)`);
}

function heldLock(file: string, me: LockHolder): RunLock {
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    const h = readHolder(file);
    if (h && h.pid === me.pid && h.host === me.host && h.since === me.since) fs.rmSync(file, { force: true });
  };
  return { file, release };
}
