/**
 * @file `snell report` through the CLI: Markdown on stdout, CSV to a file (one line per cell), a PNG per
 * group that decodes, bad flags as one line with exit 2; and a run folder written by a real
 * `snell train` (tiny ViT, a VTAB-layout folder named cifar) read back with its log's best and last.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import sharp from "sharp";
import { CSV_HEADER } from "../../src/report/format.js";
import { readRunRecord } from "../../src/report/run-record.js";
import { expandSweep, loadSweep } from "../../src/sweep/grid.js";
import { readRunLog } from "../../src/train/run-log.js";
import { inProcess } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";
import { writeRun } from "./fabricate.js";

let tmp: ReturnType<typeof tempDir>;
let runs: string;

describe("snell report", () => {
  before(() => {
    tmp = tempDir("snell-report-cli-");
    runs = join(tmp.dir, "runs");
    const base = { method: "snell", rank: 8, lr: 1e-3, finished: true } as const;
    writeRun(runs, "cifar-0", { ...base, recipe: "vtab/cifar", seed: 0, top1: [70] });
    writeRun(runs, "cifar-1", { ...base, recipe: "vtab/cifar", seed: 1, top1: [74] });
    writeRun(runs, "eurosat-0", { ...base, recipe: "vtab/eurosat", seed: 0, top1: [90] });
    writeRun(runs, "clevr-0", { ...base, recipe: "vtab/clevr_count", seed: 0, top1: [30], finished: false });
    writeRun(runs, "cub-lora", { ...base, method: "lora", recipe: "fgvc/cub-lora", datasetFormat: "fgvc", seed: 0, top1: [85] });
  });
  after(() => tmp.remove());

  test("Markdown on stdout, and a decodable PNG per VTAB group with runs, and FGVC (the charts folder is created)", async () => {
    const charts = join(tmp.dir, "charts", "new");
    const r = await inProcess(["report", runs, "--charts", charts, "--metric", "best"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| cifar \| 72\.00 ± 2\.83 \(n=2\) \|/); // sd of 70, 74: sqrt(8)
    assert.match(r.stdout, /\| clevr_count \| 1 failed \|/);
    assert.match(r.stdout, /\| \*\*Mean of the 3 groups\*\* \| 81\.00 \(2 of 19 tasks\) \|/);
    assert.doesNotMatch(r.stdout, /top-1 last/);
    const files = fs.readdirSync(charts).sort();
    assert.deepEqual(files, ["report-fgvc.png", "report-vtab-natural.png", "report-vtab-specialized.png", "report-vtab-structured.png"]);
    for (const f of files) {
      const m = await sharp(join(charts, f)).metadata();
      assert.equal(m.format, "png");
      assert.ok(m.width! >= 640 && m.height! > 300, `${f}: ${m.width}x${m.height}`);
    }
  });

  test("CSV to --out: the header, then one line per cell of every table", async () => {
    const out = join(tmp.dir, "report.csv");
    const r = await inProcess(["report", runs, "--format", "csv", "--out", out, "--no-charts"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    const lines = fs.readFileSync(out, "utf8").trimEnd().split("\n");
    assert.equal(lines[0], CSV_HEADER.join(","));
    // VTAB: cifar, Natural, eurosat, Specialized, clevr_count, Structured, mean = 7 rows x 1 column; FGVC: cub, Mean = 2 x 1; twice (best, last).
    assert.equal(lines.length, 1 + 2 * (7 + 2));
    for (const l of lines) assert.equal(l.split(",").length, CSV_HEADER.length, l);
    assert.ok(lines.includes("vtab-1k,best,cifar,task,SNELL-8,72,2.828427,2,0,0,0,,"), lines.join("\n"));
    assert.ok(lines.includes("vtab-1k,best,clevr_count,task,SNELL-8,,,0,1,0,0,,"));
    assert.ok(lines.includes("fgvc,last,Mean,mean,LoRA-8,85,,1,0,0,0,1,5"));
    assert.ok(!fs.readdirSync(tmp.dir).some((f) => f.endsWith(".png")), "--no-charts writes none");
  });

  test("--sweep: the sweep's runs without a folder are listed as missing", async () => {
    const dir = join(tmp.dir, "swept");
    const file = join(tmp.dir, "sweep.yaml");
    fs.writeFileSync(file, "recipes: [vtab/dtd]\ndata-root: vtab-1k\nmethods: [snell]\nranks: [8]\nseeds: [0, 1]\n");
    const [s0, s1] = expandSweep(loadSweep(file), tmp.dir);
    writeRun(dir, s0!.name, { recipe: "vtab/dtd", method: "snell", rank: 8, lr: 1e-3, seed: 0, top1: [61], finished: true });
    const r = await inProcess(["report", dir, "--sweep", file, "--metric", "best", "--no-charts"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\| dtd \| 61\.00 \(n=1\); 1 missing \|/);
    assert.match(r.stdout, new RegExp(`\`${s1!.name}\` \\(dtd, snell-8, seed 1\\): \\*\\*missing\\*\\*`));
  });

  test("bad input: one line, exit 2", async () => {
    for (const [args, re] of [
      [["report", runs, "--format", "xml"], /--format must be one of md, csv/],
      [["report", join(tmp.dir, "nope")], /runs folder .*nope does not exist/],
      [["report", runs, "--out", join(tmp.dir, "no", "r.md")], /--out .*folder .* does not exist/],
    ] as const) {
      const r = await inProcess([...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("snell: error:")).length, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack");
    }
  });

  test("reads the run folder a real snell train writes", async () => {
    const data = join(tmp.dir, "cifar");
    await writeVtabTask(data, { numClasses: 2, perClass: 3 });
    const out = join(tmp.dir, "trained", "cifar-run");
    const r = await inProcess(["train", "--data", data, "--model", "vit_test", "--arch", "imgSize=16,depth=1", "--method", "lora", "--rank", "2",
      "--batch-size", "2", "--lr", "1e-2", "--warmup-epochs", "0", "--epochs", "3", "--eval-every", "1", "--seed", "5", "--no-progress", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const rec = readRunRecord(join(tmp.dir, "trained"), "cifar-run");
    const tops = readRunLog(join(out, "log.jsonl")).map((e) => e.top1!);
    assert.equal(tops.length, 3);
    assert.deepEqual({ ...rec, dir: rec.dir }, {
      dir: "cifar-run", benchmark: "vtab-1k", task: "cifar", method: "lora", rank: 2, lr: 1e-2, seed: 5, status: "finished",
      best: Math.max(...tops), last: tops[2],
    });
  });
});
