/**
 * @file `snell train` as the authors train, end to end on small folders the test writes: the shipped demo
 * backbone fine-tuned by name on grey (and RGBA) digit PNGs, FGVC on its train split by default, and the
 * behaviour block of run.json that says which of these a run used.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { detectLayout } from "../../src/data/layout.js";
import { inProcess } from "../helpers/cli.js";
import { tempDir, writeFgvc, writePng } from "../helpers/images.js";

let tmp: ReturnType<typeof tempDir>;
before(() => { tmp = tempDir("snell-anyimg-"); });
after(() => tmp.remove());

/** A digit-like 28x28 image of class c: a bar whose position and direction depend on c, plus noise. */
const digit = (c: number, seed: number) => (x: number, y: number) => {
  const bar = c % 2 === 0 ? Math.abs(x - 8 - 4 * c) < 3 : Math.abs(y - 6 - 4 * c) < 3;
  return (bar ? 220 : 20) + ((x * 7 + y * 13 + seed * 31) % 17);
};

async function digitFolder(dir: string, channels: 1 | 4, perClass: number): Promise<void> {
  for (const split of ["train", "test"]) {
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < perClass; i++) {
        const px = digit(c, i + (split === "test" ? 100 : 0));
        await writePng(join(dir, split, String(c), `${i}.png`), 28, 28, channels, (x, y, ch) => (ch === 3 ? 255 : px(x, y)));
      }
    }
  }
}

/**
 * The trainer asks transformMismatch() (src/train/loaders.ts), so 1-channel models train on image folders.
 */

const FAST = ["--epochs", "1", "--batch-size", "4", "--warmup-epochs", "0", "--method", "lora", "--rank", "2", "--no-progress"];
const runJson = (out: string) => JSON.parse(fs.readFileSync(join(out, "run.json"), "utf8"));

describe("the demo backbone on a user's own digits", () => {
  test("grey PNGs: `snell train --model demo-vit-mnist04 --data DIR --out RUN`, no --arch, no --dataset-format", async () => {
    const data = join(tmp.dir, "digits");
    await digitFolder(data, 1, 4);
    assert.equal(detectLayout(data), "imagefolder");
    const out = join(tmp.dir, "run-grey");
    const r = await inProcess(["train", "--model", "demo-vit-mnist04", "--data", data, "--out", out, ...FAST]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /loaded \d+ tensors from .*pretrained-vit-mnist04\.safetensors/);
    assert.match(r.stderr, /model demo-vit-mnist04 \(ViT 64x4, 3 classes\)/);
    const b = runJson(out).behaviour;
    assert.deepEqual([b.preprocess.train.channels, b.preprocess.train.mean, b.preprocess.train.std], [1, [0.1307], [0.3081]]);
    assert.ok(fs.existsSync(join(out, "adapter", "adapter_model.safetensors")));
  });

  test("RGBA PNGs and --mean/--std for the same 1-channel model", async () => {
    const data = join(tmp.dir, "rgba");
    await digitFolder(data, 4, 2);
    const out = join(tmp.dir, "run-rgba");
    const r = await inProcess(["train", "--model", "demo-vit-mnist04", "--data", data, "--out", out, "--mean", "0.5", "--std", "0.25", ...FAST]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([runJson(out).behaviour.preprocess.eval.mean, runJson(out).behaviour.preprocess.eval.std], [[0.5], [0.25]]);
  });

  test("a --mean with the wrong channel count is one line naming the fix, exit 2", async () => {
    const r = await inProcess(["train", "--model", "demo-vit-mnist04", "--data", join(tmp.dir, "digits"), "--out", join(tmp.dir, "run-bad"),
      "--mean", "0.5,0.5,0.5", "--std", "0.2,0.2,0.2", ...FAST]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /snell: error: mean\/std must hold 1 value\(s\) each \(one per model input channel\)/);
  });
});

describe("FGVC as the authors' --test runs", () => {
  const ids = [3, 7];
  const ARGS = ["--model", "vit_test", "--arch", "imgSize=16,depth=1", "--preprocess", "snell-fgvc", "--method", "lora", "--rank", "2",
    "--epochs", "1", "--batch-size", "2", "--warmup-epochs", "0", "--no-progress"];
  let data: string;
  before(async () => {
    data = join(tmp.dir, "cub");
    await writeFgvc(data, "images", ids, 2);
  });

  test("train on train.json by default; --train-split trainval is the explicit alternative", async () => {
    const out = join(tmp.dir, "fgvc-train");
    const r = await inProcess(["train", "--data", data, "--fgvc-name", "cub", "--out", out, ...ARGS]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, / 4 training images, 4 evaluation images/);
    const b = runJson(out).behaviour;
    assert.deepEqual([b.trainSplit, b.evalSplit, b.preprocess.eval.interpolation, b.preprocess.train.interpolation], ["train", "test", "bilinear", "bicubic"]);
    assert.match(b.headInit, /trunc_normal_\(std=0\.02, a=-2, b=2\)/);
    assert.equal(b.modelEma, null);
    assert.deepEqual(b.semantics, {
      adapterDropPathUnit: "leading-axis unit: an image; a window at window-attention sites", adapterInputDropout: "one-mask-per-input", dropoutMaskDraw: "bank-two-forward-windows/int32-hash",
      zeroSparsity: { snell: "dense", snella: "threshold" }, fullSparsity: "zero-update",
      snellInt8Site: "fold: Wm = dequant(W0q) + dW each step; forward x Wm^T in float32; dX int8MatMul(dY s', q(Wm)) with q per output channel; dW's gradient dY^T x in float32 (straight-through)",
    });

    const tv = join(tmp.dir, "fgvc-trainval");
    const r2 = await inProcess(["train", "--data", data, "--fgvc-name", "cub", "--out", tv, "--train-split", "trainval", "--model-ema", "0.99", ...ARGS]);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, / 8 training images, 4 evaluation images/);
    assert.deepEqual([runJson(tv).behaviour.trainSplit, runJson(tv).behaviour.modelEma], ["trainval", 0.99]);
  });

  test("--model-ema outside (0, 1) is refused before any work", async () => {
    const r = await inProcess(["train", "--data", data, "--fgvc-name", "cub", "--out", join(tmp.dir, "fgvc-ema"), "--model-ema", "1", ...ARGS]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--model-ema must be a decay in \(0, 1\)/);
    assert.ok(!fs.existsSync(join(tmp.dir, "fgvc-ema", "run.json")));
  });
});
