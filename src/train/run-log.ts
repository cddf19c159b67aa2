/** @file JSON-lines training log: one line per epoch, appended and fsynced so a crash loses at most the line being written. */
import * as fs from "node:fs";
import * as path from "node:path";
import { FormatError } from "../errors.js";
import { writeFileAtomic } from "../checkpoint/atomic.js";

/** One epoch's line. Extra fields (decode throughput, step time, ...) are allowed. */
export interface EpochRecord {
  /** 0-based epoch. */
  epoch: number;
  /** Learning rate used in this epoch (first step's, for per-step schedules). */
  lr: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /** Test top-1 accuracy in percent, or null when this epoch was not evaluated. */
  top1: number | null;
  /** Test top-5 accuracy in percent, or null when not evaluated. */
  top5: number | null;
  /** Wall time of the epoch (training + evaluation), seconds. */
  seconds: number;
  /** Peak resident set size of the process so far, MiB. */
  peakRssMiB: number;
  [extra: string]: unknown;
}

/** Peak RSS of this process in MiB (process.resourceUsage().maxRSS is in KiB). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/**
 * Reads a run log. A last line without its newline (the write a crash interrupted) is dropped; any other
 * malformed line is a FormatError naming the file and line.
 */
export function readRunLog(file: string): EpochRecord[] {
  const text = fs.readFileSync(file, "utf8");
  // The last element is "" after a final newline, or a torn line without one: drop it either way.
  const complete = text.split("\n").slice(0, -1);
  const out: EpochRecord[] = [];
  complete.forEach((line, i) => {
    if (line.trim() === "") return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (cause) {
      throw new FormatError(`${file}:${i + 1}: not a JSON line (${(cause as Error).message})`, { cause });
    }
    if (!rec || typeof rec !== "object" || typeof (rec as EpochRecord).epoch !== "number") {
      throw new FormatError(`${file}:${i + 1}: a run-log line must be an object with a numeric "epoch"`);
    }
    out.push(rec as EpochRecord);
  });
  return out;
}

/** Appends epoch records to a JSON-lines file. */
export class RunLog {
  private constructor(readonly file: string) {}

  /**
   * Opens `file` for appending, creating folders as needed. With `resumeAtEpoch`, lines for that epoch and
   * later (written after the checkpoint being resumed) and a torn last line are dropped first, so the
   * resumed log reads like the uninterrupted run's. Without it, an existing file is replaced.
   */
  static open(file: string, { resumeAtEpoch }: { resumeAtEpoch?: number } = {}): RunLog {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    if (resumeAtEpoch === undefined || !fs.existsSync(file)) {
      writeFileAtomic(file, "");
    } else {
      const kept = readRunLog(file).filter((r) => r.epoch < resumeAtEpoch);
      writeFileAtomic(file, kept.map((r) => JSON.stringify(r) + "\n").join(""));
    }
    return new RunLog(file);
  }

  /** Appends one line and fsyncs it, so `tail -f` and a crash both see whole epochs. */
  append(rec: EpochRecord): void {
    const line = JSON.stringify(rec, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)) + "\n";
    const fd = fs.openSync(this.file, "a");
    try {
      fs.writeSync(fd, line);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
