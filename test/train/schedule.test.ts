/** @file Cosine schedule with warm-up: values against timm 0.5.4's formula worked out by hand, and the authors' epoch lag. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { authorsEvaluateAfter, createLrSchedule, timmCosineLr } from "../../src/train/schedule.js";

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-12 + 1e-9 * Math.abs(b), `${what}: got ${a}, expected ${b}`);

// vtab/cifar: lr 1e-3, 200 epochs, 10 warm-up epochs from 1e-6, floor 1e-5.
const base = 1e-3, E = 200, W = 10, w0 = 1e-6, lo = 1e-5;
const timmOpts = { baseLr: base, tInitial: E, warmupT: W, warmupLrInit: w0, lrMin: lo };

describe("timmCosineLr (timm CosineLRScheduler._get_lr)", () => {
  test("warm-up starts at warmup_lr_init and rises linearly by (lr - 1e-6) / 10 per epoch", () => {
    close(timmCosineLr(0, timmOpts), 1e-6, "t=0");
    close(timmCosineLr(5, timmOpts), 1e-6 + 5 * 0.0000999, "t=5"); // (1e-3 - 1e-6) / 10 = 9.99e-5
    close(timmCosineLr(9, timmOpts), 9.001e-4, "t=9 (last warm-up epoch)");
  });
  test("the cosine is evaluated at the absolute t (warmup_prefix=False), so t=10 is already past the peak", () => {
    // 1e-5 + 0.5 (1e-3 - 1e-5)(1 + cos(pi 10/200)); cos(pi/20) = 0.98768834059513777
    close(timmCosineLr(10, timmOpts), 1e-5 + 0.495e-3 * 1.98768834059513777, "t=10");
    assert.ok(timmCosineLr(10, timmOpts) < base);
  });
  test("midpoint is the mean of lr and lr_min, the end approaches lr_min and stays there after the cycle", () => {
    close(timmCosineLr(100, timmOpts), (1e-3 + 1e-5) / 2, "t=100");
    // cos(pi 199/200) = -0.99987663248166059
    close(timmCosineLr(199, timmOpts), 1e-5 + 0.495e-3 * (1 - 0.99987663248166059), "t=199");
    close(timmCosineLr(200, timmOpts), 1e-5, "t=200 (cycle_limit reached)");
    close(timmCosineLr(350, timmOpts), 1e-5, "t=350");
  });
  test("warmup_prefix shifts the cosine so its first value is the peak lr", () => {
    close(timmCosineLr(10, { ...timmOpts, warmupPrefix: true }), 1e-3, "t=10 with prefix");
  });
});

describe("createLrSchedule", () => {
  test("per-epoch update lags one epoch, as train.py calls lr_scheduler.step(epoch) after each epoch", () => {
    const s = createLrSchedule({ baseLr: base, epochs: E });
    close(s.lrAt(0), 1e-6, "epoch 0 uses the lr set at construction");
    close(s.lrAt(1), 1e-6, "epoch 1 uses _get_lr(0)");
    close(s.lrAt(10), 9.001e-4, "epoch 10 uses _get_lr(9)");
    close(s.lrAt(11), 1e-5 + 0.495e-3 * 1.98768834059513777, "epoch 11 uses _get_lr(10)");
    close(s.lrAt(101), (1e-3 + 1e-5) / 2, "epoch 101 uses _get_lr(100)");
    // Last epoch 199 uses _get_lr(198); cos(pi 198/200) = -0.99950656036573160
    close(s.lrAt(199), 1e-5 + 0.495e-3 * (1 - 0.9995065603657316), "epoch 199");
    close(s.lrAt(0, 17), s.lrAt(0), "constant within an epoch");
  });
  test("per-step update follows timm's step_update with lengths in optimizer steps", () => {
    const s = createLrSchedule({ baseLr: base, epochs: E, update: "step", stepsPerEpoch: 50 });
    close(s.lrAt(0, 0), 1e-6, "step 0");
    close(s.lrAt(5, 0), 1e-6 + 250 * (1e-3 - 1e-6) / 500, "step 250 of 500 warm-up steps");
    close(s.lrAt(9, 49), 1e-6 + 499 * (1e-3 - 1e-6) / 500, "last warm-up step");
    close(s.lrAt(10, 0), 1e-5 + 0.495e-3 * 1.98768834059513777, "step 500 = cos(pi 500/10000)");
    close(s.lrAt(100, 0), (1e-3 + 1e-5) / 2, "step 5000");
    close(s.lrAt(199, 49), 1e-5 + 0.495e-3 * (1 + Math.cos(Math.PI * 9999 / 10000)), "last step");
  });
  test("no warm-up starts at the base lr", () => {
    close(createLrSchedule({ baseLr: base, epochs: E, warmupEpochs: 0 }).lrAt(0), 1e-3, "epoch 0");
  });
  test("bad settings are ConfigErrors naming the field", () => {
    assert.throws(() => createLrSchedule({ baseLr: base, epochs: 0 }), (e: unknown) => e instanceof ConfigError && /epochs/.test(e.message));
    assert.throws(() => createLrSchedule({ baseLr: base, epochs: 5, update: "step" }), /stepsPerEpoch/);
    assert.throws(() => createLrSchedule({ baseLr: Number.NaN, epochs: 5 }), /baseLr/);
  });
});

test("the authors evaluate every 10 epochs and in each of the last 10", () => {
  const evals = Array.from({ length: 100 }, (_, e) => e).filter((e) => authorsEvaluateAfter(e, 100));
  assert.deepEqual(evals, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
});
