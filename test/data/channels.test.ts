/** @file Images of any channel count into 1- or 3-channel models, the shape check the trainer uses, FGVC eval resize. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { decodeBatch, transformSample } from "../../src/data/decode.js";
import { makeTransform, sampleLength, toGrey, transformMismatch } from "../../src/data/transforms.js";
import { ConfigError } from "../../src/errors.js";
import { tempDir, writePng } from "../helpers/images.js";

const tmp = tempDir();
after(() => tmp.remove());
const ctx = { seed: 0, epoch: 0, index: 0 };
const f = Math.fround;
const grey1 = (size: number) => makeTransform("snell-vtab", { train: false, size, channels: 1, mean: [0.5], std: [0.25] });

describe("1-channel models", () => {
  test("PIL's convert('L') luma on worked numbers (ITU-R 601-2, 16-bit fixed point)", () => {
    // 0.299*200 + 0.587*100 + 0.114*50 = 124.2 -> 124; 0.299*255 = 76.2 -> 76; grey stays itself.
    assert.deepEqual(Array.from(toGrey(Uint8Array.from([200, 100, 50, 255, 0, 0, 0, 0, 255, 17, 17, 17, 255, 255, 255]))), [124, 76, 29, 17, 255]);
  });

  test("a grey PNG gives the normalised grey values, one plane", async () => {
    const file = join(tmp.dir, "g.png");
    await writePng(file, 4, 4, 1, (x, y) => 15 * x + 60 * y);
    const out = await transformSample(file, grey1(4), ctx);
    assert.equal(out.length, 16);
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) assert.equal(out[y * 4 + x], f(f(f((15 * x + 60 * y) / 255) - 0.5) / 0.25));
  });

  test("an RGB and an RGBA PNG give the luma of their colour (alpha dropped)", async () => {
    const rgb = join(tmp.dir, "c.png"), rgba = join(tmp.dir, "a.png");
    await writePng(rgb, 2, 2, 3, (_x, _y, c) => [200, 100, 50][c]!);
    await writePng(rgba, 2, 2, 4, (_x, _y, c) => [200, 100, 50, 9][c]!);
    for (const file of [rgb, rgba]) {
      const out = await transformSample(file, grey1(2), ctx);
      assert.deepEqual(Array.from(out), new Array(4).fill(f(f(f(124 / 255) - 0.5) / 0.25)), file);
    }
  });

  test("a grey PNG for a 3-channel model repeats the grey in every plane", async () => {
    const file = join(tmp.dir, "g3.png");
    await writePng(file, 2, 2, 1, (x, y) => 100 + 50 * x + 10 * y);
    const out = await transformSample(file, makeTransform("snell-vtab", { train: false, size: 2 }), ctx);
    assert.equal(out.length, 12);
    for (let c = 0; c < 3; c++) for (let i = 0; i < 4; i++) {
      const v = 100 + 50 * (i % 2) + 10 * Math.floor(i / 2);
      assert.equal(out[c * 4 + i], f(f(f(v / 255) - f([0.485, 0.456, 0.406][c]!)) / f([0.229, 0.224, 0.225][c]!)));
    }
  });

  test("batches hold channels x size x size floats per row, augmented or not", async () => {
    const file = join(tmp.dir, "b.png");
    await writePng(file, 9, 7, 3, (x, y, c) => 20 * x + 9 * y + 30 * c);
    const train = makeTransform("snell-fgvc", { train: true, size: 5, channels: 1, mean: [0.1307], std: [0.3081] });
    assert.equal(sampleLength(train), 25);
    const b = await decodeBatch({ items: [{ index: 0, source: file, label: 1 }, { index: 1, source: file, label: 0 }], spec: train, seed: 1, epoch: 0, batchSize: 3, skipBadImages: false });
    assert.equal(b.images.length, 3 * 25);
    assert.equal(b.count, 2);
    assert.ok(b.images.subarray(0, 50).every(Number.isFinite) && b.images.subarray(50).every((v) => v === 0));
  });

  test("mean/std must give one value per channel; ImageNet's are refused for grey", () => {
    assert.throws(() => makeTransform("snell-vtab", { train: false, channels: 1 }), (e: unknown) => e instanceof ConfigError && /--mean and --std with 1 value/.test(e.message));
    assert.throws(() => makeTransform("snell-vtab", { train: false, channels: 1, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }), /1 value\(s\) each/);
    assert.throws(() => makeTransform("snell-vtab", { train: false, channels: 3, mean: [0.5], std: [0.5] }), /3 value\(s\) each/);
    assert.throws(() => makeTransform("snell-vtab", { train: false, channels: 2 }), /1 or 3 input channels, got 2/);
  });
});

describe("transformMismatch (the trainer's check before it builds a loader)", () => {
  test("null when channels and size fit, else a message naming both shapes", () => {
    assert.equal(transformMismatch(grey1(28), 1, 28), null);
    assert.equal(transformMismatch(makeTransform("snell-vtab", { train: false, size: 28 }), 1, 28), "the transform gives 3x28x28 images, the model takes 1x28x28");
    assert.equal(transformMismatch(grey1(32), 1, 28), "the transform gives 1x32x32 images, the model takes 1x28x28");
    assert.equal(transformMismatch(makeTransform("snell-vtab", { train: false, size: 16 }), 3, 16), null);
  });
});

describe("FGVC evaluation resize", () => {
  test("is bilinear as the authors' build_transform (Resize(256, bilinear) + CenterCrop); training stays bicubic", () => {
    const ev = makeTransform("snell-fgvc", { train: false });
    assert.equal(ev.interpolation, "bilinear");
    assert.deepEqual(ev.geometry, { kind: "resize-crop", resizeSize: 256 });
    assert.equal(makeTransform("snell-fgvc", { train: true }).interpolation, "bicubic");
    assert.equal(makeTransform("snell-vtab", { train: false }).interpolation, "bicubic");
    assert.equal(makeTransform("timm", { train: false }).interpolation, "bicubic");
  });

  test("the decoded eval tensor is the bilinear one (differs from bicubic on an edge)", async () => {
    const file = join(tmp.dir, "edge.png");
    await writePng(file, 10, 10, 3, (x) => (x < 5 ? 0 : 255));
    const spec = makeTransform("snell-fgvc", { train: false, size: 4 });
    const bil = await transformSample(file, spec, ctx);
    const bic = await transformSample(file, { ...spec, interpolation: "bicubic" }, ctx);
    // Bicubic overshoots past the edge (values outside [0, 255] clip to the ends); bilinear stays monotone in x.
    const row = (t: Float32Array) => Array.from(t.subarray(0, 4));
    assert.notDeepEqual(row(bil), row(bic));
    assert.ok(row(bil).every((v, i, a) => i === 0 || v >= a[i - 1]!));
  });
});
