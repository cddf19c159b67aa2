/**
 * @file The Node platform (see types.ts): node:os, node:v8, node:crypto and the atomic file writers of
 * src/checkpoint. package.json maps `#platform` here under the "node" condition.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import * as path from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { writeFileAtomic } from "../checkpoint/atomic.js";
import { replaceDirAtomic } from "../checkpoint/atomic-dir.js";
import type { FileSink, Platform } from "./types.js";

let gc: (() => void) | null = null;

// `--expose-gc` is on only long enough to take V8's gc function from a fresh context, so that no
// global `gc` appears in the program (why a collection helps: runtime/gc.ts).
function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as () => void;
    setFlagsFromString("--no-expose-gc");
  }
  gc();
}

let version: string | undefined;

// src/platform/node.ts and dist/platform/node.js both sit two folders below package.json.
function libraryVersion(): string {
  try {
    version ??= (JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    version = "0.0.0";
  }
  return version;
}

function openFileSink(file: string): FileSink {
  const fd = fs.openSync(file, "w");
  return {
    // writeSync may write less than asked for large buffers; loop until done.
    write: (chunk) => {
      for (let off = 0; off < chunk.byteLength;) off += fs.writeSync(fd, chunk, off, chunk.byteLength - off);
    },
    close: () => fs.closeSync(fd),
  };
}

export const platform: Platform = {
  name: "node",
  availableParallelism,
  totalMemoryBytes: totalmem,
  // getrusage's ru_maxrss; Linux reports KiB.
  peakRssMiB: () => process.resourceUsage().maxRSS / 1024,
  currentRssMiB: () => process.memoryUsage.rss() / 2 ** 20,
  collectGarbage,
  sha256Hex: (bytes) => createHash("sha256").update(bytes).digest("hex"),
  libraryVersion,
  joinPath: (...parts) => path.join(...parts),
  basename: (p) => path.basename(p),
  readFile: (file) => fs.readFileSync(file),
  writeFileAtomic: (file, data) => writeFileAtomic(file, data),
  writeFolderAtomic: (dir, files) => replaceDirAtomic(path.resolve(dir), (tmp) => {
    for (const [name, data] of Object.entries(files)) writeFileAtomic(path.join(tmp, name), data);
  }),
  openFileSink,
};
