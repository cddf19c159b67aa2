/** @file Preprocessing: Pillow-exact resizing, exact eval tensors, torchvision crop rules, seeded augmentation. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { decodeRgb, transformSample } from "../../src/data/decode.js";
import { resizePil } from "../../src/data/resample.js";
import {
  applyJitter,
  centerCropBox,
  drawParams,
  makeTransform,
  randomResizedCropBox,
  roundHalfEven,
  shorterSideSize,
  type TransformSpec,
} from "../../src/data/transforms.js";
import { Rng } from "../../src/random.js";
import { tempDir, writePng } from "../helpers/images.js";

const tmp = tempDir();
after(() => tmp.remove());

const ctx = { seed: 0, epoch: 0, index: 0 };

describe("resizePil matches Pillow 9.4 Image.resize byte for byte", () => {
  // Source: 5x4 RGB with byte i = (37 i) mod 256; expectations printed by Pillow.
  const src = Uint8Array.from({ length: 60 }, (_, i) => (i * 37) % 256);
  const GOLDEN: Array<[number, number, "bicubic" | "bilinear" | "lanczos" | "nearest", number[]]> = [
    [3, 3, "bicubic", [55, 92, 136, 139, 67, 115, 158, 149, 73, 112, 153, 128, 84, 133, 138, 131, 87, 138, 168, 119, 127, 150, 139, 110, 103, 155, 108]],
    [2, 3, "lanczos", [84, 75, 135, 159, 116, 83, 97, 153, 131, 109, 99, 143, 169, 123, 117, 117, 156, 109]],
    [7, 6, "bilinear", [0, 37, 74, 63, 100, 137, 143, 107, 144, 222, 3, 40, 118, 82, 119, 125, 162, 89, 188, 225, 6, 22, 59, 96, 85, 122, 159, 128, 129, 166, 116, 25, 62, 103, 104, 141, 147, 129, 111, 210, 119, 28, 50, 87, 124, 113, 150, 163, 120, 157, 164, 16, 53, 90, 95, 132, 169, 157, 102, 139, 195, 19, 56, 79, 116, 153, 142, 179, 94, 149, 186, 70, 45, 82, 119, 124, 161, 198, 112, 131, 168, 54, 48, 85, 108, 145, 182, 171, 135, 99, 178, 123, 69, 74, 111, 148, 153, 190, 135, 123, 160, 124, 40, 77, 114, 129, 166, 203, 192, 83, 120, 199, 53, 90, 95, 132, 169, 174, 211, 65, 144, 181, 72, 61, 98, 135]],
    [7, 6, "nearest", [0, 37, 74, 111, 148, 185, 111, 148, 185, 222, 3, 40, 77, 114, 151, 77, 114, 151, 188, 225, 6, 43, 80, 117, 154, 191, 228, 154, 191, 228, 9, 46, 83, 120, 157, 194, 120, 157, 194, 231, 12, 49, 43, 80, 117, 154, 191, 228, 154, 191, 228, 9, 46, 83, 120, 157, 194, 120, 157, 194, 231, 12, 49, 86, 123, 160, 197, 234, 15, 197, 234, 15, 52, 89, 126, 163, 200, 237, 163, 200, 237, 18, 55, 92, 86, 123, 160, 197, 234, 15, 197, 234, 15, 52, 89, 126, 163, 200, 237, 163, 200, 237, 18, 55, 92, 129, 166, 203, 240, 21, 58, 240, 21, 58, 95, 132, 169, 206, 243, 24, 206, 243, 24, 61, 98, 135]],
  ];
  for (const [w, h, interp, want] of GOLDEN) {
    test(`5x4 -> ${w}x${h} ${interp}`, () => {
      assert.deepEqual(Array.from(resizePil(src, 5, 4, 3, w, h, interp)), want);
    });
  }
});

describe("torchvision geometry rules", () => {
  test("center crop rounds half to even like Python's round()", () => {
    assert.deepEqual([roundHalfEven(0.5), roundHalfEven(1.5), roundHalfEven(2.5), roundHalfEven(-0.5), roundHalfEven(1.4)], [0, 2, 2, -0, 1]);
    assert.deepEqual(centerCropBox(9, 4, 4), { left: 2, top: 0, width: 4, height: 4 });
    assert.deepEqual(centerCropBox(7, 5, 4), { left: 2, top: 0, width: 4, height: 4 });
  });

  test("Resize(int) sets the shorter side and floors the longer one", () => {
    assert.deepEqual(shorterSideSize(500, 375, 256), [341, 256]);
    assert.deepEqual(shorterSideSize(375, 500, 256), [256, 341]);
    assert.deepEqual(shorterSideSize(300, 300, 256), [256, 256]);
  });

  test("presets: snell-fgvc eval resizes to 256 for 224 and scales with the size; timm uses floor(size / cropPct)", () => {
    const e = makeTransform("snell-fgvc", { train: false });
    assert.deepEqual(e.geometry, { kind: "resize-crop", resizeSize: 256 });
    assert.deepEqual(makeTransform("snell-fgvc", { train: false, size: 28 }).geometry, { kind: "resize-crop", resizeSize: 32 });
    assert.deepEqual(makeTransform("timm", { train: false, size: 224, cropPct: 0.9 }).geometry, { kind: "resize-crop", resizeSize: 248 });
    const v = makeTransform("snell-vtab", { train: true, size: 32 });
    assert.deepEqual([v.geometry.kind, v.hflip, v.interpolation], ["resize", 0, "bicubic"]);
    const t = makeTransform("snell-fgvc", { train: true });
    assert.deepEqual(t.geometry, { kind: "random-resized-crop", scale: [0.08, 1], ratio: [3 / 4, 4 / 3] });
    assert.deepEqual([t.hflip, t.colorJitter], [0.5, { brightness: 0.4, contrast: 0.4, saturation: 0.4 }]);
  });

  test("RandomResizedCrop boxes stay inside the image with area and ratio in range, else fall back to the centre", () => {
    const rng = new Rng(5);
    let fallbacks = 0;
    for (let i = 0; i < 500; i++) {
      const [w, h] = [10 + rng.int(90), 10 + rng.int(90)];
      const b = randomResizedCropBox(rng, w, h, [0.08, 1], [3 / 4, 4 / 3]);
      assert.ok(b.left >= 0 && b.top >= 0 && b.left + b.width <= w && b.top + b.height <= h, JSON.stringify({ w, h, b }));
      assert.ok(b.width > 0 && b.height > 0);
      if (b.width === w || b.height === h) fallbacks++;
    }
    assert.ok(fallbacks < 250);
    // A 100x10 strip can never hold a crop of ratio <= 4/3 and area >= 8%: the fallback takes height 10, width round(10 * 4/3).
    assert.deepEqual(randomResizedCropBox(new Rng(1), 100, 10, [0.9, 1], [3 / 4, 4 / 3]), { left: 43, top: 0, width: 13, height: 10 });
  });
});

describe("ColorJitter (torchvision tensor semantics)", () => {
  test("brightness scales and clamps, contrast blends with the grey mean, saturation with per-pixel grey", () => {
    const px = Float32Array.from([0.5, 0.25, 1, 0.1, 0.2, 0.3]);
    const b = px.slice();
    applyJitter(b, [{ op: "brightness", factor: 1.2 }]);
    [0.6, 0.3, 1, 0.12, 0.24, 0.36].forEach((v, i) => assert.ok(Math.abs(b[i]! - v) < 1e-6));
    const c = px.slice();
    applyJitter(c, [{ op: "contrast", factor: 0.5 }]);
    const grey = [0.299 * 0.5 + 0.587 * 0.25 + 0.114, 0.299 * 0.1 + 0.587 * 0.2 + 0.114 * 0.3];
    const mean = (grey[0]! + grey[1]!) / 2;
    Array.from(px).forEach((v, i) => assert.ok(Math.abs(c[i]! - (0.5 * v + 0.5 * mean)) < 1e-6));
    const s = px.slice();
    applyJitter(s, [{ op: "saturation", factor: 0 }]);
    Array.from(px).forEach((_, i) => assert.ok(Math.abs(s[i]! - grey[Math.floor(i / 3)]!) < 1e-6));
  });
});

describe("transformSample", () => {
  // A 9x4 RGB gradient: pixel (x, y, c) = 20 x + 30 y + 7 c.
  const pixel = (x: number, y: number, c: number) => 20 * x + 30 * y + 7 * c;
  const file = join(tmp.dir, "grad.png");
  const ready = writePng(file, 9, 4, 3, pixel);

  test("eval (resize shorter side to 4 = no resize, center-crop 4) gives hand-computed normalised values", async () => {
    await ready;
    const spec = makeTransform("timm", { train: false, size: 4, cropPct: 1 });
    const out = await transformSample(file, spec, ctx);
    assert.equal(out.length, 3 * 4 * 4);
    // Crop left = round_half_even((9 - 4) / 2) = 2. Pixel (x=2, y=0, c=0) = 40: (40/255 - 0.485) / 0.229.
    assert.ok(Math.abs(out[0]! - -1.4329139) < 1e-6, String(out[0]));
    // Channel 2, y=3, x=3 -> source (5, 3, 2) = 100 + 90 + 14 = 204: (204/255 - 0.406) / 0.225.
    assert.ok(Math.abs(out[2 * 16 + 3 * 4 + 3]! - 1.7511111) < 1e-6, String(out[2 * 16 + 15]));
    const mean = [0.485, 0.456, 0.406];
    const std = [0.229, 0.224, 0.225];
    const f = Math.fround;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 4; x++) {
          const want = f(f(f(pixel(x + 2, y, c) / 255) - f(mean[c]!)) / f(std[c]!));
          assert.equal(out[c * 16 + y * 4 + x], want, `c=${c} y=${y} x=${x}`);
        }
      }
    }
  });

  test("a constant image stays constant through bicubic resizing: one value per channel", async () => {
    const f = join(tmp.dir, "const.png");
    await writePng(f, 13, 7, 3, (_x, _y, c) => [255, 128, 0][c]!);
    const out = await transformSample(f, makeTransform("snell-vtab", { train: false, size: 5 }), ctx);
    const want = [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0 - 0.406) / 0.225];
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - want[Math.floor(i / 25)]!) < 1e-6);
  });

  test("grey and RGBA images become 3 channels (grey repeated, alpha dropped)", async () => {
    const g = join(tmp.dir, "grey.png");
    const a = join(tmp.dir, "rgba.png");
    await writePng(g, 3, 2, 1, (x, y) => 40 * x + 100 * y);
    await writePng(a, 3, 2, 4, (x, y, c) => (c === 3 ? 7 : 40 * x + 100 * y));
    const dg = await decodeRgb(g);
    const da = await decodeRgb(a);
    assert.deepEqual([dg.width, dg.height, dg.data.length], [3, 2, 18]);
    assert.deepEqual(Array.from(dg.data), [0, 0, 0, 40, 40, 40, 80, 80, 80, 100, 100, 100, 140, 140, 140, 180, 180, 180]);
    assert.deepEqual(da.data, dg.data);
    const raw = await decodeRgb({ data: Uint8Array.from([0, 40, 80, 100, 140, 180]), width: 3, height: 2, channels: 1 });
    assert.deepEqual(raw.data, dg.data);
  });

  test("training transforms are a function of (seed, epoch, index)", async () => {
    await ready;
    const spec: TransformSpec = makeTransform("snell-fgvc", { train: true, size: 6 });
    const a = await transformSample(file, spec, { seed: 3, epoch: 1, index: 7 });
    const b = await transformSample(file, spec, { seed: 3, epoch: 1, index: 7 });
    assert.deepEqual(a, b);
    const others = await Promise.all([
      transformSample(file, spec, { seed: 4, epoch: 1, index: 7 }),
      transformSample(file, spec, { seed: 3, epoch: 2, index: 7 }),
      transformSample(file, spec, { seed: 3, epoch: 1, index: 8 }),
    ]);
    for (const o of others) assert.notDeepEqual(o, a);
    // Flip probability and jitter ranges over many draws.
    let flips = 0;
    for (let i = 0; i < 400; i++) {
      const p = drawParams(spec, 50, 40, 9, 0, i);
      if (p.flip) flips++;
      assert.equal(p.jitter.length, 3);
      assert.deepEqual(new Set(p.jitter.map((j) => j.op)).size, 3);
      for (const j of p.jitter) assert.ok(j.factor >= 0.6 && j.factor <= 1.4);
    }
    assert.ok(flips > 150 && flips < 250, `flips ${flips}`);
  });

  test("eval transforms draw nothing: the same tensor every epoch", async () => {
    await ready;
    const spec = makeTransform("snell-fgvc", { train: false, size: 4 });
    assert.deepEqual(await transformSample(file, spec, { seed: 1, epoch: 0, index: 0 }), await transformSample(file, spec, { seed: 2, epoch: 5, index: 3 }));
  });
});
