/**
 * @file Writes the demo's downstream task (MNIST digits 5-9: the 1,000 training images and the test
 * images, as src/demo/mnist-tasks.ts draws them) as an ImageFolder of grey PNGs, so `snell train
 * --model demo-vit-mnist04` (and so a queued sweep) trains on exactly the demo's images.
 * Run: node --import tsx scripts/export-demo-task.ts OUT_DIR
 */
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { loadMnist } from "../src/data/idx.js";
import { downstreamTaskIndices } from "../src/demo/mnist-tasks.js";

const out = process.argv[2];
if (!out) throw new Error("usage: export-demo-task.ts OUT_DIR");
const { train, test } = downstreamTaskIndices();
for (const [split, src, idx] of [["train", loadMnist("train"), train], ["test", loadMnist("test"), test]] as const) {
  const px = src.rows * src.cols;
  await Promise.all(idx.map(async (i, k) => {
    const dir = path.join(out, split, String(src.labels[i]! - 5));
    fs.mkdirSync(dir, { recursive: true });
    const pixels = Buffer.from(src.images.subarray(i * px, (i + 1) * px));
    await sharp(pixels, { raw: { width: src.cols, height: src.rows, channels: 1 } }).png().toFile(path.join(dir, `${String(k).padStart(5, "0")}.png`));
  }));
  console.log(`${split}: ${idx.length} images`);
}
