/** @file Atomic file writes: a temp file in the same folder, fsync, rename over the target, fsync the folder. */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

/** Options of writeFileAtomic. */
export interface AtomicWriteOptions {
  /** fsync the folder after the rename so the new name survives a power loss (default true). */
  syncDir?: boolean;
  /** File mode of the new file (default 0o644). */
  mode?: number;
  /**
   * Called after the temp file is complete and fsynced, just before the rename. For fault injection in
   * tests: throwing here simulates a crash between write and rename (the temp file is then removed).
   */
  beforeRename?: (tmpPath: string) => void;
}

/** The temp name used for `file`: hidden, in the same folder (rename must not cross filesystems). */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

/**
 * Writes `data` (bytes, text, or a list of chunks written in order) to `file` so that readers see either
 * the old content or the new one, never a mix: a crash at any point leaves the previous file intact.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string | readonly Uint8Array[], opts: AtomicWriteOptions = {}): void {
  const { syncDir = true, mode = 0o644, beforeRename } = opts;
  const chunks = typeof data === "string" ? [Buffer.from(data, "utf8")] : data instanceof Uint8Array ? [data] : data;
  if (isSpecialFile(file)) {
    // A pipe or device (--predictions /dev/stdout) cannot be renamed over: write it in place.
    writeChunks(file, "a", chunks);
    return;
  }
  const tmp = tempPathFor(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, "wx", mode);
    writeAll(fd, chunks);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    beforeRename?.(tmp);
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (syncDir) fsyncDir(path.dirname(file));
}

function writeAll(fd: number, chunks: readonly Uint8Array[]): void {
  for (const c of chunks) {
    // writeSync may write less than asked for large buffers; loop until done.
    for (let done = 0; done < c.length;) done += fs.writeSync(fd, c, done, Math.min(c.length - done, 1 << 30));
  }
}

function writeChunks(file: string, flags: string, chunks: readonly Uint8Array[]): void {
  const fd = fs.openSync(file, flags);
  try {
    writeAll(fd, chunks);
  } finally {
    fs.closeSync(fd);
  }
}

/** An existing target that is neither a regular file nor a folder: a FIFO, a character device. */
function isSpecialFile(file: string): boolean {
  try {
    const st = fs.statSync(file);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}

/** fsyncs a folder so a rename in it is durable; ignored where the platform refuses (Windows). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Directory fsync is unsupported on some platforms; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * Removes temp files that a killed process left next to `file` (names from tempPathFor). Returns the
 * removed paths. Call it before writing a new checkpoint, never while another writer may be active.
 */
export function removeStaleTemps(file: string): string[] {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const n of names) {
    if (n.startsWith(prefix) && n.endsWith(".tmp")) {
      fs.rmSync(path.join(dir, n), { force: true });
      removed.push(path.join(dir, n));
    }
  }
  return removed;
}
