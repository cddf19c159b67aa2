/**
 * @file One atomic file writer (src/checkpoint/atomic.ts): no other module renames files into place, and
 * the writer leaves pipes and devices (`--predictions /dev/stdout`) as they are, writing into them.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../../src/checkpoint/atomic.js";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snell-atomic-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * Modules allowed to rename: the writer, the folder swap built on it, the lock (which links and moves
 * aside), and the run folder, which moves a previous run's finished files aside for --overwrite and back.
 */
const RENAMERS = new Set(["checkpoint/atomic.ts", "checkpoint/atomic-dir.ts", "train/run-lock.ts", "cli/run-folder.ts"]);

test("no module but the atomic writer renames a temp file into place", () => {
  const offenders: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".ts") && !RENAMERS.has(path.relative(SRC, p).split(path.sep).join("/")) && /\brenameSync\(|\b(fs|fsp|promises)\.rename\(/.test(fs.readFileSync(p, "utf8"))) {
        offenders.push(path.relative(SRC, p));
      }
    }
  };
  walk(SRC);
  assert.deepEqual(offenders, [], "use writeFileAtomic (src/checkpoint/atomic.ts) instead");
});

test("a FIFO is written in place, not replaced by a regular file", { skip: process.platform === "win32" }, () => {
  const fifo = path.join(dir, "pipe");
  assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    writeFileAtomic(fifo, "one line\n");
    const buf = Buffer.alloc(64);
    const n = fs.readSync(reader, buf, 0, 64, null);
    assert.equal(buf.subarray(0, n).toString(), "one line\n");
  } finally {
    fs.closeSync(reader);
  }
  assert.ok(fs.statSync(fifo).isFIFO());
  assert.deepEqual(fs.readdirSync(dir), ["pipe"], "no temp file left");
});
