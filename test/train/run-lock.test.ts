/** @file The run folder lock: exclusive, names its holder, and taken over only when its process is gone from this host. */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { acquireRunLock, LOCK_FILE } from "../../src/train/run-lock.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "snell-lock-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** The pid of a process that has exited (a child run to completion). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(r.stdout);
}

const writeLock = (dir: string, holder: object | string) => {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, LOCK_FILE), typeof holder === "string" ? holder : JSON.stringify(holder));
};

describe("acquireRunLock", () => {
  test("a second lock is refused naming pid and host; release frees it", () => {
    const dir = path.join(root, "a");
    const lock = acquireRunLock(dir);
    const held = JSON.parse(fs.readFileSync(lock.file, "utf8"));
    assert.deepEqual([held.pid, held.host], [process.pid, os.hostname()]);
    assert.throws(() => acquireRunLock(dir), (e: unknown) => e instanceof ConfigError &&
      e.message.includes(`process ${process.pid} on ${os.hostname()}`) && e.message.includes(dir) && !e.message.includes("\n"));
    lock.release();
    assert.ok(!fs.existsSync(lock.file));
    acquireRunLock(dir).release();
  });

  test("a lock whose process is gone from this host is stale and taken over", () => {
    const dir = path.join(root, "b");
    writeLock(dir, { pid: deadPid(), host: os.hostname(), since: "2020-01-01T00:00:00Z" });
    const lock = acquireRunLock(dir);
    assert.equal(JSON.parse(fs.readFileSync(lock.file, "utf8")).pid, process.pid);
    lock.release();
    assert.deepEqual(fs.readdirSync(dir), [], "no temp or aside files are left");
  });

  test("a lock whose process exited but was never reaped (a zombie) is stale", { skip: process.platform !== "linux" && "needs /proc" }, async () => {
    // sh forks a short `sleep`, then becomes `sleep 5`, which never reaps it: once the short one exits
    // (after the exec, so sh cannot reap it first) it is a zombie, as a killed worker's child under a
    // PID 1 that does not reap.
    const sh = spawn("sh", ["-c", "sleep 0.2 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const zombie = Number(await new Promise<string>((resolve) => sh.stdout!.once("data", (d) => resolve(String(d)))));
      await new Promise((r) => setTimeout(r, 700)); // the short sleep has exited by now
      const stat = fs.readFileSync(`/proc/${zombie}/stat`, "utf8");
      assert.match(stat, /\) Z /, "the fixture made a zombie");
      const dir = path.join(root, "zombie");
      writeLock(dir, { pid: zombie, host: os.hostname(), since: "2020-01-01T00:00:00Z" });
      const lock = acquireRunLock(dir);
      assert.equal(JSON.parse(fs.readFileSync(lock.file, "utf8")).pid, process.pid);
      lock.release();
    } finally {
      sh.kill("SIGKILL");
    }
  });

  test("a lock held on another host cannot be checked and stands", () => {
    const dir = path.join(root, "c");
    writeLock(dir, { pid: deadPid(), host: `${os.hostname()}-elsewhere`, since: "2020-01-01T00:00:00Z" });
    assert.throws(() => acquireRunLock(dir), /in use: process \d+ on .*-elsewhere/);
  });

  test("an unreadable lock file is damage, not a holder, and is replaced", () => {
    const dir = path.join(root, "d");
    writeLock(dir, "{half");
    acquireRunLock(dir).release();
  });

  test("release leaves a lock that is no longer ours", () => {
    const dir = path.join(root, "e");
    const lock = acquireRunLock(dir);
    const theirs = { pid: process.pid + 1, host: os.hostname(), since: "x" };
    fs.writeFileSync(lock.file, JSON.stringify(theirs));
    lock.release();
    assert.deepEqual(JSON.parse(fs.readFileSync(lock.file, "utf8")), theirs);
  });
});
