/** @file Metrics: top-k with ties and NaN, running mean, and the last-vs-best tracker the authors' max accuracy needs. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError, RuntimeError, ShapeError } from "../../src/errors.js";
import { AccuracyMeter, assertFiniteLoss, AccuracyTracker, RunningMean, labelRank, topKCounts } from "../../src/train/metrics.js";

describe("top-k accuracy", () => {
  test("ranks count strictly greater logits, and ties go to the lower class index", () => {
    assert.equal(labelRank([0.1, 0.9, 0.5], 1), 0);
    assert.equal(labelRank([0.1, 0.9, 0.5], 0), 2);
    assert.equal(labelRank([1, 1, 1, 1], 0), 0);
    assert.equal(labelRank([1, 1, 1, 1], 3), 3);
    assert.equal(labelRank([2, 1, 1, 0], 2), 2);
  });
  test("a NaN logit ranks below every number", () => {
    assert.equal(labelRank([NaN, 0, -5], 1), 0);
    assert.equal(labelRank([0, NaN, -5], 1), 2);
  });
  test("counts match a hand-worked batch of 4 samples x 6 classes", () => {
    const logits = new Float32Array([
      9, 1, 2, 3, 4, 5, // label 0: rank 0
      1, 2, 3, 4, 5, 6, // label 0: rank 5 -> miss top-5
      0, 0, 0, 0, 0, 0, // label 4: all tied -> rank 4 -> top-5 hit, top-1 miss
      3, 3, 1, 1, 1, 1, // label 1: tied with class 0 (lower index wins) -> rank 1
    ]);
    const c = topKCounts(logits, [0, 0, 4, 1], 6, [1, 5]);
    assert.deepEqual(c, { n: 4, correct: [1, 3] });
    const m = new AccuracyMeter(6);
    m.update(logits.subarray(0, 12), [0, 0]);
    m.update(logits.subarray(12), [4, 1]);
    assert.equal(m.count, 4);
    assert.equal(m.top1, 25);
    assert.equal(m.top5, 75);
  });
  test("fewer than 5 classes: top-5 is 100%", () => {
    const m = new AccuracyMeter(2);
    m.update([0, 1, 1, 0], [0, 0]);
    assert.equal(m.top1, 50);
    assert.equal(m.top5, 100);
  });
  test("wrong sizes and labels out of range are errors naming the values", () => {
    assert.throws(() => topKCounts([1, 2, 3], [0], 2), ShapeError);
    assert.throws(() => topKCounts([1, 2], [2], 2), (e: unknown) => e instanceof ConfigError && /label 2 of sample 0/.test(e.message));
  });
});

test("RunningMean weights by batch size and keeps NaN visible", () => {
  const r = new RunningMean();
  assert.ok(Number.isNaN(r.mean));
  r.update(2, 3);
  r.update(4, 1);
  assert.equal(r.mean, 2.5);
  assert.equal(r.latest, 4);
  r.update(NaN, 1);
  assert.ok(Number.isNaN(r.mean));
  r.reset();
  assert.equal(r.count, 0);
});

describe("AccuracyTracker", () => {
  test("keeps the last and the maximum top-1 (earliest epoch among equals), and round-trips through JSON", () => {
    const t = new AccuracyTracker();
    assert.equal(t.describe(), "no evaluation yet");
    assert.equal(t.update({ epoch: 0, top1: 50, top5: 80 }), true);
    assert.equal(t.update({ epoch: 10, top1: 70, top5: 90 }), true);
    assert.equal(t.update({ epoch: 20, top1: 70, top5: 95 }), false);
    assert.equal(t.update({ epoch: 30, top1: 65, top5: 91 }), false);
    assert.deepEqual(t.best, { epoch: 10, top1: 70, top5: 90 });
    assert.deepEqual(t.last, { epoch: 30, top1: 65, top5: 91 });
    const back = new AccuracyTracker(JSON.parse(JSON.stringify(t)));
    assert.deepEqual(back.toJSON(), t.toJSON());
    assert.match(t.describe(), /last: top-1 65\.00% .*epoch 31.*best: top-1 70\.00% \(epoch 11; the maximum/);
  });
});

test("a non-finite loss stops with an error naming epoch, step and lr", () => {
  assertFiniteLoss(0.5, { epoch: 0, step: 0 });
  assert.throws(() => assertFiniteLoss(Infinity, { epoch: 2, step: 9, lr: 1e-3 }),
    (e: unknown) => e instanceof RuntimeError && /loss is Infinity in epoch 3, step 10 at lr 1\.000e-3/.test(e.message));
  assert.throws(() => assertFiniteLoss(NaN, { epoch: 0, step: 0 }), /loss is NaN/);
});
