/**
 * @file File-system and memory errors as one line for the user: Node's errno errors (ENOENT, EISDIR,
 * ENOSPC, ...) and failed allocations become "<path>: <what went wrong>" instead of "internal error"
 * and a JS stack. A full disk during training names the last good checkpoint to resume from.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { RuntimeError } from "../errors.js";

/** What each errno means, in words that suggest the fix. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: "no such file or folder",
  EEXIST: "already exists",
  ENOTDIR: "a part of this path is a file, not a folder",
  EISDIR: "is a folder, but a file is needed here",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  ELOOP: "too many levels of symbolic links (a link that points to itself?)",
  ENAMETOOLONG: "file name too long",
  EMFILE: "too many open files",
};

/** The errno codes `describeSystemError` maps. */
export const MAPPED_ERRNOS = Object.keys(ERRNO_TEXT);

/** Messages V8 and Node give when an allocation fails. */
const ALLOCATION_FAILED = /Array buffer allocation failed|Invalid typed array length|Invalid array length|ERR_MEMORY_ALLOCATION_FAILED|Cannot allocate memory|ERR_BUFFER_TOO_LARGE|ERR_STRING_TOO_LONG/;

/** A mapped error: one line, and whether it is bad input (exit 2) or a failure mid-run (exit 1). */
export interface MappedError {
  message: string;
  usage: boolean;
}

function errnoOf(e: unknown): NodeJS.ErrnoException | null {
  for (let x = e, depth = 0; x && depth < 5; x = (x as Error).cause, depth++) {
    const code = (x as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code in ERRNO_TEXT) return x as NodeJS.ErrnoException;
  }
  return null;
}

function isAllocationFailure(e: unknown): boolean {
  for (let x = e, depth = 0; x && depth < 5; x = (x as Error).cause, depth++) {
    const err = x as NodeJS.ErrnoException;
    if (typeof err.code === "string" && ALLOCATION_FAILED.test(err.code)) return true;
    if (typeof err.message === "string" && ALLOCATION_FAILED.test(err.message)) return true;
  }
  return false;
}

/** One line for a file-system or allocation error, or null for anything else (a bug keeps its stack). */
export function describeSystemError(e: unknown): MappedError | null {
  const err = errnoOf(e);
  if (err) {
    const dest = (err as { dest?: string }).dest;
    const where = err.path ? (dest ? `${err.path} -> ${dest}` : err.path) : err.syscall ?? "file";
    return { message: `${where}: ${ERRNO_TEXT[err.code!]} (${err.code}${err.syscall ? ` in ${err.syscall}` : ""})`, usage: err.code !== "ENOSPC" && err.code !== "EDQUOT" };
  }
  if (isAllocationFailure(e)) {
    return { message: `out of memory (${(e as Error).message.split("\n")[0]}); use a smaller model, batch size or image size`, usage: false };
  }
  return null;
}

/**
 * Wraps a disk-full error raised while training into `outDir` so the message names the checkpoint
 * that survived (checkpoints are renamed into place, so the file on disk is whole). Other errors pass.
 */
export function withLastCheckpoint(e: unknown, outDir: string, checkpointFile = "checkpoint.safetensors"): unknown {
  const err = errnoOf(e);
  if (!err || (err.code !== "ENOSPC" && err.code !== "EDQUOT")) return e;
  const ckpt = path.join(outDir, checkpointFile);
  const last = fs.existsSync(ckpt)
    ? `the last good checkpoint is ${ckpt}; free some space and continue with: snell train --resume --out ${outDir}`
    : `no checkpoint was written yet; free some space and train again`;
  return new RuntimeError(`${describeSystemError(err)!.message}; ${last}`, { cause: e });
}
