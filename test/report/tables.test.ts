/**
 * @file `snell report`'s tables from fabricated run folders: seed means and sample sds, VTAB-1k group
 * means and the mean of the groups, FGVC's mean, best vs last (with a model EMA), failed / running /
 * missing runs marked, one column per lr when a method/rank ran several, and the grouping against the recipes.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import * as os from "node:os";
import { after, before, describe, test } from "node:test";
import { FGVC_DATASETS, VTAB_TASKS } from "../../src/cli/recipes.js";
import { VTAB_GROUPS } from "../../src/report/benchmarks.js";
import { cellText, reportMarkdown } from "../../src/report/format.js";
import { readRunRecord } from "../../src/report/run-record.js";
import { joinSweep, scanRuns } from "../../src/report/scan.js";
import { buildTable, buildTables, type Cell, type ReportTable } from "../../src/report/table.js";
import { expandSweep, parseSweep } from "../../src/sweep/grid.js";
import { tempDir } from "../helpers/images.js";
import { writeRun } from "./fabricate.js";

let tmp: ReturnType<typeof tempDir>;
const cell = (t: ReportTable, row: string, col: string): Cell => {
  const r = t.rows.find((x) => x.label === row);
  assert.ok(r, `row ${row} in ${t.rows.map((x) => x.label).join(", ")}`);
  const j = t.columns.indexOf(col);
  assert.ok(j >= 0, `column ${col} in ${t.columns.join(", ")}`);
  return r.cells[j]!;
};
const close = (a: number | undefined | null, b: number, tol = 1e-9) => assert.ok(a !== undefined && a !== null && Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe("report tables", () => {
  // cifar SNELL-8: a sweep of seeds 0..3 whose seed 3 never got a folder.
  const sweep = expandSweep(parseSweep({ recipes: ["vtab/cifar"], dataRoot: "/data/vtab-1k", methods: ["snell"], ranks: [8], seeds: [0, 1, 2, 3] }), "/");
  let runs: ReturnType<typeof scanRuns>;
  before(() => {
    tmp = tempDir("snell-report-");
    const cifar = { recipe: "vtab/cifar", method: "snell", rank: 8, lr: 1e-3, finished: true } as const;
    // best / last per seed: 70 / 65, 72 / 71, 74 / 74 (an unevaluated first epoch in the last).
    writeRun(tmp.dir, sweep[0]!.name, { ...cifar, seed: 0, top1: [50, 70, 65] });
    writeRun(tmp.dir, sweep[1]!.name, { ...cifar, seed: 1, top1: [60, 72, 71] });
    writeRun(tmp.dir, sweep[2]!.name, { ...cifar, seed: 2, top1: [null, 68, 74] });
    writeRun(tmp.dir, "cifar-lora-s0", { recipe: "vtab/cifar-lora", method: "lora", rank: 8, lr: 1e-3, seed: 0, top1: [80], finished: true });
    writeRun(tmp.dir, "cifar-lora-s1", { recipe: "vtab/cifar-lora", method: "lora", rank: 8, lr: 1e-3, seed: 1, top1: [40], epochs: 5, finished: false });
    // A live lock on this host (our own pid): still running; a dead pid's lock: failed.
    writeRun(tmp.dir, "cifar-lora-s2", { recipe: "vtab/cifar-lora", method: "lora", rank: 8, lr: 1e-3, seed: 2, top1: [41], epochs: 5, finished: false, lock: { pid: process.pid, host: os.hostname() } });
    // No recipe: the data folder's name is the task. The EMA's 55 beats the live 50: best 55, last 50.
    writeRun(tmp.dir, "dtd", { data: "/data/vtab-1k/dtd", method: "snell", rank: 8, lr: 1e-3, seed: 0, top1: [50], emaTop1: [55], finished: true });
    writeRun(tmp.dir, "nested/eurosat", { recipe: "vtab/eurosat", method: "snell", rank: 8, lr: 1e-3, seed: 0, top1: [90], finished: true });
    // FGVC, all five datasets named five ways: recipe, alias, reader name, folder name.
    const fg = { method: "snell", rank: 8, lr: 1e-3, seed: 0, finished: true, datasetFormat: "fgvc" } as const;
    writeRun(tmp.dir, "fg/cub", { ...fg, recipe: "fgvc/cub", top1: [80] });
    writeRun(tmp.dir, "fg/cars", { ...fg, recipe: "fgvc/stanfordcar", top1: [81] });
    writeRun(tmp.dir, "fg/flowers", { ...fg, fgvcName: "oxfordflower", data: "/d/flowers", top1: [99] });
    writeRun(tmp.dir, "fg/nabirds", { ...fg, data: "/d/nabirds", top1: [70] });
    writeRun(tmp.dir, "fg/dogs", { ...fg, recipe: "fgvc/stanford_dogs", top1: [85] });
    writeRun(tmp.dir, "demo", { data: "/x/mnist-digits-5-9", datasetFormat: "idx", method: "linear", lr: 0.1, seed: 0, top1: [88], finished: true });
    runs = joinSweep(scanRuns(tmp.dir), sweep);
  });
  after(() => tmp.remove());

  test("VTAB-1k: seed mean ± sample sd, best and last, counts of unfinished runs", () => {
    const best = buildTable("vtab-1k", runs, "best");
    const last = buildTable("vtab-1k", runs, "last");
    assert.deepEqual(best.columns, ["LoRA-8", "SNELL-8"]);
    const b = cell(best, "cifar", "SNELL-8");
    close(b.stat?.mean, 72); close(b.stat?.sd, 2); assert.equal(b.stat?.n, 3); assert.equal(b.missing, 1);
    const l = cell(last, "cifar", "SNELL-8");
    close(l.stat?.mean, 70); close(l.stat?.sd, Math.sqrt(21)); // 65, 71, 74: squares 25 + 1 + 16 over n - 1 = 2
    assert.equal(cellText(b), "72.00 ± 2.00 (n=3); 1 missing");
    const lora = cell(best, "cifar", "LoRA-8");
    close(lora.stat?.mean, 80); assert.equal(lora.stat?.sd, null); assert.equal(lora.failed, 1); assert.equal(lora.running, 1);
    assert.equal(cellText(lora), "80.00 (n=1); 1 failed, 1 running");
    close(cell(best, "dtd", "SNELL-8").stat?.mean, 55);
    close(cell(last, "dtd", "SNELL-8").stat?.mean, 50);
    assert.equal(cellText(cell(best, "dtd", "LoRA-8")), "—");
  });

  test("VTAB-1k groups: mean of the task means, partial groups say how many tasks, mean of the groups", () => {
    const best = buildTable("vtab-1k", runs, "best");
    assert.deepEqual(best.rows.map((r) => r.label), ["cifar", "dtd", "Natural (mean)", "eurosat", "Specialized (mean)", "Mean of the 3 groups"]);
    const nat = cell(best, "Natural (mean)", "SNELL-8");
    close(nat.stat?.mean, (72 + 55) / 2); assert.deepEqual(nat.tasks, { have: 2, of: 7 });
    assert.equal(cellText(nat), "63.50 (2 of 7 tasks)");
    close(cell(best, "Specialized (mean)", "SNELL-8").stat?.mean, 90);
    const all = cell(best, "Mean of the 3 groups", "SNELL-8");
    close(all.stat?.mean, (63.5 + 90) / 2); assert.deepEqual(all.tasks, { have: 3, of: 19 });
    close(cell(best, "Natural (mean)", "LoRA-8").stat?.mean, 80);
    assert.equal(cell(best, "Specialized (mean)", "LoRA-8").stat, null);
  });

  test("FGVC: every naming of the five datasets lands in its row; a complete mean has no task count", () => {
    const t = buildTable("fgvc", runs, "best");
    assert.deepEqual(t.rows.map((r) => r.label), [...FGVC_DATASETS, "Mean"]);
    const mean = cell(t, "Mean", "SNELL-8");
    close(mean.stat?.mean, (80 + 81 + 99 + 70 + 85) / 5);
    assert.equal(cellText(mean), "83.00");
  });

  test("other tasks get their own table; the report lists each run without a result and why", () => {
    const tables = buildTables(runs);
    assert.deepEqual(tables.map((t) => `${t.benchmark}/${t.metric}`), ["vtab-1k/best", "vtab-1k/last", "fgvc/best", "fgvc/last", "other/best", "other/last"]);
    close(cell(tables[4]!, "mnist-digits-5-9", "linear probe").stat?.mean, 88);
    const md = reportMarkdown(tables, runs);
    assert.match(md, /`cifar-lora-s1` .*\*\*failed\*\*: no adapter\/ \(stopped or crashed; 1 of 5 epochs logged\)/);
    assert.match(md, /`cifar-lora-s2` .*\*\*running\*\*/);
    assert.match(md, new RegExp(`\`${sweep[3]!.name}\` \\(cifar, snell-8, seed 3\\): \\*\\*missing\\*\\*`));
    assert.match(md, /^15 runs: 12 finished, 3 without a result/);
  });

  test("runs of one task and method/rank with different lrs are never averaged together", () => {
    const t2 = tempDir("snell-report-lr-");
    try {
      writeRun(t2.dir, "a", { recipe: "vtab/cifar", method: "snell", rank: 8, lr: 1e-3, seed: 0, top1: [70], finished: true });
      writeRun(t2.dir, "b", { recipe: "vtab/cifar", method: "snell", rank: 8, lr: 1e-2, seed: 0, top1: [60], finished: true });
      writeRun(t2.dir, "c", { recipe: "vtab/dtd", method: "lora", rank: 8, lr: 1e-3, seed: 0, top1: [50], finished: true });
      writeRun(t2.dir, "d", { recipe: "vtab/svhn", method: "lora", rank: 8, lr: 5e-3, seed: 0, top1: [40], finished: true });
      const t = buildTable("vtab-1k", scanRuns(t2.dir), "best");
      // LoRA's two lrs are on different tasks (per-task recipes): one column.
      assert.deepEqual(t.columns, ["LoRA-8", "SNELL-8 lr=0.001", "SNELL-8 lr=0.01"]);
      close(cell(t, "cifar", "SNELL-8 lr=0.01").stat?.mean, 60);
    } finally {
      t2.remove();
    }
  });

  test("an unreadable run.json is a failed run with its reason", () => {
    const t2 = tempDir("snell-report-bad-");
    try {
      writeRun(t2.dir, "x", { method: "snell", seed: 0, top1: [1], finished: true });
      writeFileSync(`${t2.dir}/x/run.json`, "{ not json");
      const r = readRunRecord(t2.dir, "x");
      assert.equal(r.status, "failed");
      assert.match(r.reason!, /run\.json unreadable/);
    } finally {
      t2.remove();
    }
  });

  test("the VTAB-1k groups are the recipes' 19 tasks, each once (7 + 4 + 8)", () => {
    const grouped = VTAB_GROUPS.flatMap((g) => g.tasks);
    assert.deepEqual([...grouped].sort(), [...VTAB_TASKS].sort());
    assert.equal(new Set(grouped).size, 19);
    assert.deepEqual(VTAB_GROUPS.map((g) => g.tasks.length), [7, 4, 8]);
  });
});
