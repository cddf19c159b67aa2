/** @file The queue's pure parts: --queue URLs, epoch lines of `snell train`, and how a child's exit settles its job. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UnrecoverableError, WaitingError } from "bullmq";
import { ConfigError } from "../../src/errors.js";
import { parseQueueUrl } from "../../src/queue/connection.js";
import { formatStatus, type StatusRow } from "../../src/queue/status.js";
import { parseEpochLine, type TrainOutcome } from "../../src/queue/train-child.js";
import { settle } from "../../src/queue/worker.js";
import { describeEpoch } from "../../src/train/epoch-record.js";

const outcome = (o: Partial<TrainOutcome>): TrainOutcome => ({ code: 1, signal: null, error: null, result: null, resumed: false, ...o });

describe("queue units", () => {
  test("--queue URLs: host, port, db, credentials; bad ones are one-line ConfigErrors", () => {
    assert.deepEqual(parseQueueUrl("redis://10.0.0.5:6380/3"), { host: "10.0.0.5", port: 6380, db: 3, maxRetriesPerRequest: null });
    assert.deepEqual(parseQueueUrl("redis://queue-host"), { host: "queue-host", port: 6379, db: 0, maxRetriesPerRequest: null });
    assert.equal(parseQueueUrl("redis://u:p%40ss@h:1/0").password, "p@ss");
    for (const bad of ["localhost:6379", "http://h:1", "redis://h:1/x"]) assert.throws(() => parseQueueUrl(bad), ConfigError, bad);
  });

  test("progress is read from the epoch lines snell train prints (describeEpoch)", () => {
    const rec = { epoch: 2, lr: 1e-3, loss: 0.41234, top1: 81.2, top5: 98, seconds: 1, peakRssMiB: 100, stepSeconds: 0.2, decodeImagesPerSecond: 400 };
    assert.deepEqual(parseEpochLine(describeEpoch(rec as never, 10)), { epoch: 3, epochs: 10, loss: 0.4123, top1: 81.2 });
    assert.deepEqual(parseEpochLine(describeEpoch({ ...rec, top1: null, top5: null } as never, 10)), { epoch: 3, epochs: 10, loss: 0.4123, top1: null });
    assert.equal(parseEpochLine("model vit_test (...)"), null);
  });

  test("a child's exit settles its job: success, user error (no retry), crash and busy folder (retry), drain (back to wait)", async () => {
    let moved = 0;
    const job = { moveToWait: async () => (moved++, 0) };
    assert.deepEqual(await settle(job, "t", outcome({ code: 0, result: { best: 1 }, resumed: true }), false), { best: 1, resumed: true });
    await assert.rejects(settle(job, "t", outcome({ code: 2, error: "missing split file x" }), false), (e: Error) => e instanceof UnrecoverableError && e.message === "missing split file x");
    await assert.rejects(settle(job, "t", outcome({ code: 2, error: "/r is in use: process 1 on h is training there" }), false), (e: Error) => !(e instanceof UnrecoverableError) && /in use/.test(e.message));
    await assert.rejects(settle(job, "t", outcome({ code: null, signal: "SIGSEGV" }), false), (e: Error) => !(e instanceof UnrecoverableError) && /SIGSEGV/.test(e.message));
    assert.equal(moved, 0);
    await assert.rejects(settle(job, "t", outcome({ code: 143 }), true), WaitingError);
    assert.equal(moved, 1, "a drained job is moved back to wait");
  });

  test("status lines: progress of running jobs, reasons of failed ones, counts", () => {
    const rows: StatusRow[] = [
      { id: "a", name: "run-a", state: "active", attempts: 1, progress: { epoch: 3, epochs: 10, loss: 0.5, top1: 70, worker: "h:1", trainPid: 2 }, reason: "boom", result: null },
      { id: "b", name: "run-b", state: "failed", attempts: 1, progress: null, reason: "missing split file x", result: null },
      { id: "c", name: "run-c", state: "completed", attempts: 1, progress: null, reason: null, result: { best: { top1: 90 }, last: { top1: 88.5 } } },
    ];
    assert.deepEqual(formatStatus(rows), [
      "active    run-a  epoch 3/10 loss 0.5000 top-1 70.00% on h:1  (attempt 2; last: boom)",
      "failed    run-b  after 1 attempt(s): missing split file x",
      "completed run-c  best top-1 90.00%, last 88.50%",
      "3 job(s): 1 active, 1 completed, 1 failed",
    ]);
  });
});
