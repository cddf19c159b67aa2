/** @file Writes small PNG datasets (VTAB-1k, VPT FGVC, ImageFolder layouts) into temp folders for tests. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import sharp from "sharp";
import { Rng } from "../../src/random.js";

/** A fresh temp folder; call remove() in an after() hook. */
export function tempDir(prefix = "snell-data-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a PNG whose pixel values come from `pixel(x, y, c)` (0..255), creating folders as needed. */
export async function writePng(
  file: string,
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  pixel: (x: number, y: number, c: number) => number,
): Promise<void> {
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(pixel(x, y, c))));
    }
  }
  mkdirSync(dirname(file), { recursive: true });
  await sharp(data, { raw: { width, height, channels } }).png().toFile(file);
}

/**
 * A learnable synthetic image of class `label`: a class colour plus stripes whose orientation depends
 * on the class, with per-image noise from `seed`.
 */
export function classPixel(label: number, seed: number): (x: number, y: number, c: number) => number {
  const rng = new Rng(seed * 7919 + label);
  const noise = Array.from({ length: 64 }, () => rng.uniform() * 40 - 20);
  const colour = [(label * 97) % 256, (label * 57 + 80) % 256, (label * 31 + 160) % 256];
  return (x, y, c) => {
    const stripe = (label % 2 === 0 ? x : y) % 4 < 2 ? 40 : -40;
    return colour[c]! + stripe + noise[(x * 3 + y * 5 + c) % 64]!;
  };
}

export interface SyntheticOptions {
  numClasses: number;
  /** Images per class in each split. */
  perClass: number;
  width?: number;
  height?: number;
}

/**
 * A VTAB-1k task folder: images/<split>/<class>_<i>.png with train800.txt, val200.txt, train800val200.txt
 * (train800 + val200) and test.txt, each line `images/... label`.
 */
export async function writeVtabTask(dir: string, opts: SyntheticOptions): Promise<void> {
  const { numClasses, perClass, width = 20, height = 16 } = opts;
  const lists: Record<string, string[]> = { train800: [], val200: [], test: [] };
  let seed = 1;
  for (const split of Object.keys(lists)) {
    for (let c = 0; c < numClasses; c++) {
      for (let i = 0; i < perClass; i++) {
        const rel = `images/${split}/${c}_${i}.png`;
        await writePng(join(dir, rel), width, height, 3, classPixel(c, seed++));
        lists[split]!.push(`${rel} ${c}`);
      }
    }
  }
  lists.train800val200 = [...lists.train800!, ...lists.val200!];
  for (const [name, lines] of Object.entries(lists)) writeFileSync(join(dir, `${name}.txt`), lines.join("\n") + "\n");
}

/**
 * An FGVC folder in the VPT layout, with original class ids `ids` (not contiguous) and images under `imageRoot`.
 * Returns the JSON maps written.
 */
export async function writeFgvc(
  dir: string,
  imageRoot: string,
  ids: readonly number[],
  perClass: number,
): Promise<Record<string, Record<string, number>>> {
  const maps: Record<string, Record<string, number>> = { train: {}, val: {}, test: {} };
  let seed = 100;
  for (const split of Object.keys(maps)) {
    for (const id of ids) {
      for (let i = 0; i < perClass; i++) maps[split]![`${String(id).padStart(3, "0")}.cls/${split}_${i}.png`] = id;
    }
    for (const [rel, id] of Object.entries(maps[split]!)) await writePng(join(dir, imageRoot, rel), 12, 10, 3, classPixel(ids.indexOf(id), seed++));
    writeFileSync(join(dir, `${split}.json`), JSON.stringify(maps[split]));
  }
  return maps;
}

/** An ImageFolder tree: <dir>/<class>/<i>.png for each class name. */
export async function writeImageFolder(dir: string, classes: readonly string[], perClass: number): Promise<void> {
  let seed = 500;
  for (let c = 0; c < classes.length; c++) {
    for (let i = 0; i < perClass; i++) await writePng(join(dir, classes[c]!, `${i}.png`), 10, 10, 3, classPixel(c, seed++));
  }
}
