/**
 * @file Which of the four dataset layouts a folder holds, from the files that define each, so
 * `snell train --data DIR` needs no `--dataset-format` for a plain folder of class subfolders.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export type DatasetLayout = "vtab" | "fgvc" | "imagefolder" | "idx";

const isFile = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isFile() ?? false;
const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/**
 * VTAB-1k: list files (train800val200.txt, ...); FGVC (VPT layout): train.json; IDX: train-images-idx3-ubyte[.gz];
 * ImageFolder: a train/ folder. Null when none matches (the caller keeps its default and its error messages).
 */
export function detectLayout(dir: string): DatasetLayout | null {
  if (["train800val200.txt", "train800.txt", "test.txt"].some((f) => isFile(path.join(dir, f)))) return "vtab";
  if (isFile(path.join(dir, "train.json"))) return "fgvc";
  if (["", ".gz"].some((gz) => isFile(path.join(dir, `train-images-idx3-ubyte${gz}`)))) return "idx";
  if (isDir(path.join(dir, "train"))) return "imagefolder";
  return null;
}
