/** @file Run log (JSON lines, resume truncation, torn last line) and the non-TTY progress lines. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { after, describe, test } from "node:test";
import { FormatError } from "../../src/errors.js";
import { type EpochRecord, RunLog, peakRssMiB, readRunLog } from "../../src/train/run-log.js";
import { createProgress, formatDuration } from "../../src/train/progress.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snell-runlog-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const rec = (epoch: number, extra: Partial<EpochRecord> = {}): EpochRecord => ({
  epoch, lr: 1e-3, loss: 1 / (epoch + 1), top1: epoch % 2 ? null : 50 + epoch, top5: epoch % 2 ? null : 90, seconds: 1.5, peakRssMiB: 100, ...extra,
});

describe("RunLog", () => {
  test("appends one parseable line per epoch, in order", () => {
    const f = path.join(dir, "a", "log.jsonl");
    const log = RunLog.open(f);
    for (let e = 0; e < 3; e++) log.append(rec(e, { decodeImgPerSec: 123 }));
    const text = fs.readFileSync(f, "utf8");
    assert.equal(text.split("\n").length, 4);
    const back = readRunLog(f);
    assert.deepEqual(back, [0, 1, 2].map((e) => rec(e, { decodeImgPerSec: 123 })));
  });
  test("a new run replaces the file; a resume drops lines at and after the resumed epoch and a torn last line", () => {
    const f = path.join(dir, "b.jsonl");
    const log = RunLog.open(f);
    for (let e = 0; e < 4; e++) log.append(rec(e));
    fs.appendFileSync(f, '{"epoch": 4, "lr": 0.00');
    assert.equal(readRunLog(f).length, 4, "torn line ignored when reading");
    const resumed = RunLog.open(f, { resumeAtEpoch: 2 });
    resumed.append(rec(2, { loss: 9 }));
    assert.deepEqual(readRunLog(f), [rec(0), rec(1), rec(2, { loss: 9 })]);
    RunLog.open(f);
    assert.deepEqual(readRunLog(f), []);
  });
  test("non-finite numbers are written as strings so the line stays valid JSON", () => {
    const f = path.join(dir, "c.jsonl");
    RunLog.open(f).append(rec(0, { loss: NaN }));
    assert.equal(readRunLog(f)[0].loss, "NaN");
  });
  test("a malformed middle line is a FormatError naming file and line", () => {
    const f = path.join(dir, "d.jsonl");
    fs.writeFileSync(f, `${JSON.stringify(rec(0))}\nnot json\n${JSON.stringify(rec(1))}\n`);
    assert.throws(() => readRunLog(f), (e: unknown) => e instanceof FormatError && e.message.includes(`${f}:2:`));
  });
  test("peak RSS is a plausible number of MiB", () => {
    const m = peakRssMiB();
    assert.ok(m > 10 && m < 1e6, `peak RSS ${m} MiB`);
  });
});

describe("progress without a TTY", () => {
  function sink(): { stream: Writable & { isTTY?: boolean }; lines: () => string[] } {
    let buf = "";
    const stream = new Writable({ write(c, _e, cb) { buf += String(c); cb(); } });
    return { stream, lines: () => buf.split("\n").filter(Boolean) };
  }
  test("prints the first step, then at most one line per interval, then the last step, with loss and ETA", () => {
    const { stream, lines } = sink();
    let now = 0;
    const p = createProgress({ total: 10, label: "epoch 1/3", stream, intervalMs: 1000, now: () => now });
    for (let i = 1; i <= 10; i++) {
      now += 400; // step i completes at 400*i ms
      p.update(i, { loss: 1 / i, lr: 1e-3 });
    }
    p.stop();
    const out = lines();
    // printed at steps 1 (t=0.4 s), 4 (1.6 s: >= 1 s after 0.4 s), 7 (2.8 s), 10 (last)
    assert.deepEqual(out.map((l) => /step (\d+)\/10/.exec(l)?.[1]), ["1", "4", "7", "10"]);
    assert.equal(out[0], "epoch 1/3 step 1/10 (10%) loss 1.0000 lr 1.000e-3 elapsed 0s eta 4s");
    assert.match(out[1], /step 4\/10 \(40%\) loss 0\.2500 .* elapsed 2s eta 2s$/);
    assert.match(out[3], /step 10\/10 \(100%\) .* eta 0s$/);
  });
  test("stop() prints the last state if it was rate-limited away", () => {
    const { stream, lines } = sink();
    let now = 0;
    const p = createProgress({ total: 100, label: "eval", stream, intervalMs: 1e9, now: () => now });
    p.update(1);
    now = 5;
    p.update(50, { loss: 0.5 });
    p.stop();
    assert.deepEqual(lines().map((l) => /step (\d+)/.exec(l)?.[1]), ["1", "50"]);
  });
  test("durations format compactly", () => {
    assert.equal(formatDuration(42.4), "42s");
    assert.equal(formatDuration(185), "3m05s");
    assert.equal(formatDuration(3720), "1h02m");
    assert.equal(formatDuration(NaN), "?");
  });
});
