/**
 * @file The job queue end to end on a real redis-server: three `snell worker` processes train a sweep;
 * one worker is killed with -9 mid-run, another drained with SIGTERM, a third's training child crashes,
 * Redis restarts; every run
 * finishes exactly once (one adapter, each epoch logged once) with the adapter bytes of an
 * uninterrupted `snell train` of the same settings, and a bad-data job fails once with its reason.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { StatusRow } from "../../src/queue/status.js";
import { JOBS_DIR } from "../../src/queue/train-child.js";
import { inProcess, spawnCli, type SpawnedOut } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";
import { redisMissing, startRedis, type TestRedis } from "../helpers/redis.js";

const missing = redisMissing();
const EPOCHS = 80;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("snell worker / sweep --queue / status on Redis", { skip: missing ?? false }, () => {
  let tmp: ReturnType<typeof tempDir>;
  let redis: TestRedis;
  const workers: { child: ChildProcess; done: Promise<SpawnedOut> }[] = [];
  let runs: string;

  const startWorker = () => {
    const w = spawnCli(["worker", "--queue", redis.url, "--runs", runs, "--lock-seconds", "2"]);
    workers.push(w);
    return w;
  };
  const status = async (): Promise<StatusRow[]> => {
    const r = await inProcess(["status", "--queue", redis.url, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as StatusRow[];
  };
  const until = async <T>(what: string, ms: number, probe: () => Promise<T | null>): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== null) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await status())}`);
      await sleep(250);
    }
  };

  before(async () => {
    tmp = tempDir("snell-queue-");
    runs = path.join(tmp.dir, "runs");
    await writeVtabTask(path.join(tmp.dir, "data"), { numClasses: 3, perClass: 4 });
    fs.mkdirSync(path.join(tmp.dir, "redis"));
    redis = await startRedis(path.join(tmp.dir, "redis"));
    fs.writeFileSync(path.join(tmp.dir, "sweep.yaml"), [
      "recipes: [{ name: tiny, data: data }]",
      "methods: [snell, lora]",
      "seeds: [0, 1]",
      `train: { model: vit_test, arch: { imgSize: 16, depth: 1 }, rank: 4, batch-size: 4, lr: 0.01, warmup-epochs: 0, epochs: ${EPOCHS}, eval-every: 0, threads: 1, workers: 1 }`,
    ].join("\n"));
  });

  after(async () => {
    for (const w of workers) w.child.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.done));
    await redis?.stop();
    tmp?.remove();
  });

  test("kill -9, SIGTERM and a Redis restart mid-sweep: every run once, same adapter bytes as uninterrupted", { timeout: 150_000 }, async () => {
    for (let i = 0; i < 3; i++) startWorker();
    const sweep = await inProcess(["sweep", path.join(tmp.dir, "sweep.yaml"), "--queue", redis.url]);
    assert.equal(sweep.code, 0, sweep.stderr);
    assert.match(sweep.stdout, /4 of 4 run\(s\) queued/);
    const again = await inProcess(["sweep", path.join(tmp.dir, "sweep.yaml"), "--queue", redis.url]);
    assert.match(again.stdout, /0 of 4 run\(s\) queued/, "submitting the same sweep twice adds no job");
    const bad = await inProcess(["submit", "--queue", redis.url, "--data", path.join(tmp.dir, "no-such-data"), "--model", "vit_test", "--epochs", "2"]);
    assert.equal(bad.code, 0, bad.stderr);

    // Three runs under way on the three workers: kill one worker outright, drain another, and crash the
    // third's `snell train` (kill -9 of the child alone: retried with backoff, as any crash).
    const busy = await until("three runs past epoch 5", 60_000, async () => {
      const active = (await status()).filter((r) => r.state === "active" && r.progress && r.progress.epoch >= 5);
      const byWorker = new Map(active.map((r) => [r.progress!.worker, r]));
      return byWorker.size >= 3 ? [...byWorker.values()].slice(0, 3) : null;
    });
    const pidOf = (r: StatusRow) => Number(r.progress!.worker.split(":").pop());
    const [killed, drained, crashed] = busy as [StatusRow, StatusRow, StatusRow];
    const killedWorker = workers.find((w) => w.child.pid === pidOf(killed))!;
    const drainedWorker = workers.find((w) => w.child.pid === pidOf(drained))!;
    killedWorker.child.kill("SIGKILL");
    drainedWorker.child.kill("SIGTERM");
    process.kill(crashed.progress!.trainPid, "SIGKILL");
    const drainedOut = await drainedWorker.done;
    assert.equal(drainedOut.code, 0, `a drained worker exits 0: ${drainedOut.stderr}`);
    assert.match(drainedOut.stderr, /draining: 1 running job/);

    await redis.restart();
    const afterRestart = await status();
    assert.equal(afterRestart.length, 5, "no job lost in the Redis restart");
    startWorker();

    const final = await until("4 completed and 1 failed", 120_000, async () => {
      const rows = await status();
      const n = (s: string) => rows.filter((r) => r.state === s).length;
      return n("completed") === 4 && n("failed") === 1 ? rows : null;
    });

    // The bad-data job failed once, its one-line reason shown by `snell status`.
    const failed = final.find((r) => r.state === "failed")!;
    assert.equal(failed.attempts, 1, "a user error is not retried");
    assert.match(failed.reason ?? "", /missing split file .*no-such-data/);
    const text = await inProcess(["status", "--queue", redis.url]);
    assert.ok(text.stdout.split("\n").some((l) => l.startsWith("failed") && l.includes(failed.reason!)), text.stdout);

    // Every run folder holds one finished run: each epoch logged once, an adapter.
    const completed = final.filter((r) => r.state === "completed");
    const folders = fs.readdirSync(runs).filter((n) => n !== JOBS_DIR).sort();
    assert.deepEqual(folders, completed.map((r) => r.name).sort(), "one folder per run, none for the failed job");
    for (const name of folders) {
      const epochs = fs.readFileSync(path.join(runs, name, "log.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { epoch: number }).epoch);
      assert.deepEqual(epochs, Array.from({ length: EPOCHS }, (_, i) => i), `${name}: every epoch exactly once`);
      assert.ok(fs.existsSync(path.join(runs, name, "adapter", "adapter_model.safetensors")));
    }
    const byId = new Map(final.map((r) => [r.id, r]));
    assert.equal(byId.get(killed.id)!.result!.resumed, true, "the killed worker's run resumed from its folder");
    assert.equal(byId.get(drained.id)!.result!.resumed, true, "the drained run resumed from its folder");
    // BullMQ counts the finishing attempt too: 1 means neither the drain nor the kill was counted as a failed attempt.
    for (const r of completed) assert.equal(r.attempts, r.id === crashed.id ? 2 : 1, `${r.name}: attempts`);
    assert.equal(byId.get(crashed.id)!.result!.resumed, true, "the crashed run was retried and resumed");
    assert.match(byId.get(crashed.id)!.reason ?? "", /SIGKILL/, "the crash's reason stays on the job");

    // The interrupted runs end with the bytes of uninterrupted ones of the same settings.
    const refs = [killed, drained, crashed].map((r) => {
      const out = path.join(tmp.dir, `ref-${r.id}`);
      const p = spawnCli(["train", "--config", path.join(runs, JOBS_DIR, `${r.id}.json`), "--out", out, "--no-progress"]);
      return p.done.then((o) => ({ r, out, o }));
    });
    for (const { r, out, o } of await Promise.all(refs)) {
      assert.equal(o.code, 0, o.stderr);
      const file = (dir: string) => fs.readFileSync(path.join(dir, "adapter", "adapter_model.safetensors"));
      assert.ok(file(out).equals(file(path.join(runs, r.name))), `${r.name}: adapter bytes differ from an uninterrupted run`);
    }
  });
});

