/** @file Dataset errors name the file and line: missing split, malformed line, bad label, empty list, unreadable image. */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { ListDataset } from "../../src/data/dataset.js";
import { readFgvc, type FgvcName } from "../../src/data/fgvc.js";
import { IdxDataset, readIdx } from "../../src/data/idx.js";
import { readImageFolder } from "../../src/data/image-folder.js";
import { DataLoader } from "../../src/data/loader.js";
import { makeTransform, type PresetName } from "../../src/data/transforms.js";
import { readVtab, type VtabSplit } from "../../src/data/vtab.js";
import { ConfigError, FormatError } from "../../src/errors.js";
import { tempDir, writePng } from "../helpers/images.js";

const tmp = tempDir();
after(() => tmp.remove());

function taskDir(name: string, files: Record<string, string>): string {
  const d = join(tmp.dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}

/** Asserts that fn throws `cls` whose message contains every fragment. */
function throwsWith(fn: () => unknown, cls: new (...a: never[]) => Error, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => Error, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

describe("list-file errors", () => {
  test("a missing split file is named", () => {
    const d = taskDir("missing", { "train800.txt": "a.png 0\n" });
    throwsWith(() => readVtab(d, "test"), FormatError, join(d, "test.txt"), "missing split file");
    throwsWith(() => readFgvc(d, "cub", "train"), FormatError, join(d, "train.json"));
  });

  test("an unknown split or dataset name lists the valid ones", () => {
    throwsWith(() => readVtab(tmp.dir, "train" as VtabSplit), ConfigError, 'unknown VTAB split "train"', "train800val200");
    throwsWith(() => readFgvc(tmp.dir, "cubs" as FgvcName, "train"), ConfigError, "stanforddog");
    throwsWith(() => makeTransform("vtab" as PresetName, { train: true }), ConfigError, "snell-vtab");
  });

  test("a malformed line names file and line", () => {
    const d = taskDir("malformed", { "test.txt": "a.png 0\nb.png\nc.png 1\n" });
    throwsWith(() => readVtab(d, "test"), FormatError, `${join(d, "test.txt")}:2`, "malformed line", "b.png");
    const e = taskDir("badlabel", { "test.txt": "a.png 0\n\nb.png -1\n" });
    throwsWith(() => readVtab(e, "test"), FormatError, `${join(e, "test.txt")}:3`, '"-1"');
    const f = taskDir("floatlabel", { "test.txt": "a.png 1.5\n" });
    throwsWith(() => readVtab(f, "test"), FormatError, `${join(f, "test.txt")}:1`);
  });

  test("a label out of range names file, line and value", () => {
    const d = taskDir("range", { "test.txt": "a.png 0\nb.png 1\nc.png 10\n" });
    throwsWith(() => readVtab(d, "test", { numClasses: 10 }), FormatError, `${join(d, "test.txt")}:3`, "label 10 out of range [0, 10)");
    assert.equal(readVtab(d, "test").numClasses, 11);
    const g = taskDir("fgvc-range", { "train.json": JSON.stringify({ "a.jpg": 1, "b.jpg": 2, "c.jpg": 9 }) });
    throwsWith(() => readFgvc(g, "oxfordflower", "train", { numClasses: 2 }), FormatError, join(g, "train.json"), '"c.jpg"', "out of range");
    throwsWith(() => new IdxDataset({ images: new Uint8Array(4), labels: Uint8Array.from([0, 3, 1, 5]), count: 4, rows: 1, cols: 1 }, { numClasses: 4, name: "lb.idx" }), FormatError, "lb.idx[3]", "label 5");
  });

  test("an empty dataset is an error, naming the file", () => {
    const d = taskDir("empty", { "test.txt": "\n\n", "train.json": "{}" });
    throwsWith(() => readVtab(d, "test"), FormatError, join(d, "test.txt"), "empty dataset");
    throwsWith(() => readFgvc(d, "cub", "train"), FormatError, join(d, "train.json"), "empty dataset");
    const f = join(tmp.dir, "empty-folder");
    mkdirSync(join(f, "cls"), { recursive: true });
    throwsWith(() => readImageFolder(f), FormatError, join(f, "cls"), "no image");
    throwsWith(() => new DataLoader(new ListDataset([], 2), { batchSize: 2, transform: makeTransform("snell-vtab", { train: false }) }), FormatError, "empty dataset");
  });

  test("malformed JSON and IDX files are named", () => {
    const d = taskDir("badjson", { "train.json": "{ nope", "val.json": JSON.stringify({ "a.jpg": "x" }) });
    throwsWith(() => readFgvc(d, "cub", "train"), FormatError, join(d, "train.json"), "not valid JSON");
    throwsWith(() => readFgvc(d, "cub", "val"), FormatError, join(d, "val.json"), '"a.jpg"');
    writeFileSync(join(d, "x.idx"), Uint8Array.from([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]));
    throwsWith(() => readIdx(join(d, "x.idx")), FormatError, join(d, "x.idx"), "truncated");
  });

  test("bad loader options are ConfigErrors naming the option", () => {
    const ds = new ListDataset([{ source: "a.png", label: 0 }], 1);
    const transform = makeTransform("snell-vtab", { train: false });
    throwsWith(() => new DataLoader(ds, { batchSize: 0, transform }), ConfigError, "batchSize", "0");
    throwsWith(() => new DataLoader(ds, { batchSize: 2, transform, dropLast: true }), ConfigError, "dropLast");
    throwsWith(() => makeTransform("timm", { train: false, cropPct: 1.5 }), ConfigError, "cropPct", "1.5");
  });
});

describe("unreadable images", () => {
  const transform = makeTransform("snell-vtab", { train: false, size: 8 });

  async function badTask(workers: number): Promise<string> {
    const d = join(tmp.dir, `bad-images-${workers}`);
    mkdirSync(d, { recursive: true });
    await writePng(join(d, "ok0.png"), 8, 8, 3, () => 10);
    await writePng(join(d, "ok1.png"), 8, 8, 3, () => 20);
    writeFileSync(join(d, "broken.png"), "this is not a png");
    writeFileSync(join(d, "test.txt"), "ok0.png 0\nbroken.png 1\nmissing.png 0\nok1.png 1\n");
    return d;
  }

  for (const workers of [0, 1]) {
    test(`fail naming the file and list line, or are skipped with a count (workers=${workers})`, async () => {
      const d = await badTask(workers);
      const ds = readVtab(d, "test");
      const strict = new DataLoader(ds, { batchSize: 4, transform, workers });
      const drain = async (l: DataLoader) => {
        const out = [];
        for await (const b of l.epoch(0)) out.push(b);
        return out;
      };
      try {
        await rejectsWith(drain(strict), FormatError, join(d, "broken.png"), `${join(d, "test.txt")}:2`, "unreadable image");
      } finally {
        await strict.close();
      }
      const lenient = new DataLoader(ds, { batchSize: 4, transform, workers, skipBadImages: true });
      try {
        const [b] = await drain(lenient);
        assert.equal(b!.count, 2);
        assert.deepEqual(Array.from(b!.indices), [0, 3, -1, -1]);
        assert.deepEqual(Array.from(b!.labels), [0n, 1n, 0n, 0n]);
        const per = 3 * 8 * 8;
        assert.ok(Math.abs(b!.images[per]! - (20 / 255 - 0.485) / 0.229) < 1e-5, "ok1.png moved up to row 1");
        assert.ok(b!.images.subarray(2 * per).every((v) => v === 0), "padding rows are zero");
        const st = lenient.stats;
        assert.equal(st.skipped, 2);
        assert.ok(st.skippedMessages.some((m) => m.includes("missing.png") && m.includes(`${join(d, "test.txt")}:3`)));
      } finally {
        await lenient.close();
      }
    });
  }
});
