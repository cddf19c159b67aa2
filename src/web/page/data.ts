/**
 * @file The page's images: the bundled digits `snell web` serves, or a folder the user picks (one
 * subfolder per class, or train/ and test/ each with class subfolders), decoded in the browser to the
 * demo model's input (28x28, one channel, MNIST normalisation).
 */
import { DEMO_VIT } from "../../demo/demo-model.js";
import { resolveVariant } from "../../models/registry.js";
import type { TensorData } from "../../train/tensor-loader.js";
import { decodeDigits } from "../digits-format.js";

const PRE = resolveVariant("demo-vit-mnist04").pretrained!;
const MEAN = PRE.mean[0]!, STD = PRE.std[0]!;
const SIZE = DEMO_VIT.imgSize;

/** A task for the page: tensors, class names and where they came from. */
export interface PageTask {
  train: TensorData;
  test: TensorData;
  classes: string[];
  source: string;
}

/** The digits blob `snell web` serves at data/digits.bin. */
export async function loadBundledDigits(): Promise<PageTask> {
  const res = await fetch("data/digits.bin");
  if (!res.ok) throw new Error(`data/digits.bin: HTTP ${res.status}`);
  const d = decodeDigits(new Uint8Array(await res.arrayBuffer()), MEAN, STD);
  return { train: d.train, test: d.test, classes: ["5", "6", "7", "8", "9"], source: "bundled MNIST digits 5-9" };
}

const IMAGE = /\.(png|jpe?g|gif|bmp|webp)$/i;

/** One picked image: its split (null: decide by position) and class folder. */
interface Entry { file: File; split: "train" | "test" | null; cls: string }

/** Reads class and split from webkitRelativePath ("root/<class>/x.png" or "root/train/<class>/x.png"). */
function entries(files: FileList): Entry[] {
  const out: Entry[] = [];
  for (const file of Array.from(files)) {
    const parts = file.webkitRelativePath.split("/").slice(1);
    if (!IMAGE.test(file.name) || parts.length < 2) continue;
    if ((parts[0] === "train" || parts[0] === "test") && parts.length >= 3) out.push({ file, split: parts[0], cls: parts[1]! });
    else out.push({ file, split: null, cls: parts[0]! });
  }
  return out.sort((a, b) => a.file.webkitRelativePath.localeCompare(b.file.webkitRelativePath));
}

/** Decodes one image to [SIZE*SIZE] normalised grey values (PIL's convert("L") weights). */
async function decode(file: File, canvas: OffscreenCanvas): Promise<Float32Array> {
  const bmp = await createImageBitmap(file, { resizeWidth: SIZE, resizeHeight: SIZE, resizeQuality: "high" });
  const ctx = canvas.getContext("2d", { willReadFrequently: true })!;
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, SIZE, SIZE);
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const px = ctx.getImageData(0, 0, SIZE, SIZE).data;
  const out = new Float32Array(SIZE * SIZE);
  for (let i = 0; i < out.length; i++) {
    const grey = (px[4 * i]! * 299 + px[4 * i + 1]! * 587 + px[4 * i + 2]! * 114) / 1000;
    out[i] = (grey / 255 - MEAN) / STD;
  }
  return out;
}

function toTensors(rows: { x: Float32Array; y: number }[], classes: number): TensorData {
  const images = new Float32Array(rows.length * SIZE * SIZE);
  rows.forEach((r, i) => images.set(r.x, i * SIZE * SIZE));
  return { images, labels: BigInt64Array.from(rows, (r) => BigInt(r.y)), count: rows.length, numClasses: classes };
}

/**
 * Decodes a picked folder. Without train/ and test/ subfolders every fifth image of each class
 * (in name order) is held out for testing.
 */
export async function loadFolder(files: FileList, progress: (done: number, total: number) => void): Promise<PageTask> {
  const list = entries(files);
  const classes = [...new Set(list.map((e) => e.cls))].sort();
  if (classes.length < 2) throw new Error(`the folder needs at least two class subfolders with images, found ${classes.length}`);
  const canvas = new OffscreenCanvas(SIZE, SIZE);
  const train: { x: Float32Array; y: number }[] = [], test: { x: Float32Array; y: number }[] = [];
  const seen = new Map<string, number>();
  for (const [i, e] of list.entries()) {
    const k = seen.get(e.cls) ?? 0;
    seen.set(e.cls, k + 1);
    const split = e.split ?? (k % 5 === 4 ? "test" : "train");
    (split === "train" ? train : test).push({ x: await decode(e.file, canvas), y: classes.indexOf(e.cls) });
    if (i % 50 === 0) progress(i, list.length);
  }
  if (test.length === 0) throw new Error("the folder has no test images (a test/ folder is empty, or every class has fewer than five images)");
  return { train: toTensors(train, classes.length), test: toTensors(test, classes.length), classes, source: `folder: ${train.length} train, ${test.length} test images, ${classes.length} classes` };
}
