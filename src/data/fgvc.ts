/** @file FGVC datasets in the VPT layout: train/val/test.json map image path -> class id (https://github.com/KMnP/vpt). */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { resolveEntry } from "./entry-path.js";
import { ConfigError, FormatError, unknownName } from "../errors.js";
import { ListDataset, type Sample } from "./dataset.js";

/** Image roots relative to the dataset folder, as VPT's json_dataset.py sets them. */
export const FGVC_IMAGE_ROOTS = {
  cub: "images",
  nabirds: "images",
  stanforddog: "Images",
  stanfordcars: "",
  oxfordflower: "",
} as const;
export type FgvcName = keyof typeof FGVC_IMAGE_ROOTS;

/** `trainval` is train.json followed by val.json (the final-run training set). */
export type FgvcSplit = "train" | "val" | "test" | "trainval";
const SPLITS: readonly FgvcSplit[] = ["train", "val", "test", "trainval"];

export interface FgvcOptions {
  /** Overrides the image root (relative to the dataset folder). */
  imageRoot?: string;
  /** Expected class count; the contiguous ids must then lie in [0, numClasses). */
  numClasses?: number;
  /** Let entries be absolute or leave the image folder through `..` (see entry-path.ts). */
  allowOutsidePaths?: boolean;
}

/** An FGVC split with the mapping from contiguous ids back to the ids in the JSON files. */
export class FgvcDataset extends ListDataset {
  constructor(
    samples: Sample[],
    numClasses: number,
    /** originalIds[contiguous] = class id as written in the JSON files. */
    readonly originalIds: readonly number[],
  ) {
    super(samples, numClasses, originalIds.map(String));
  }
}

function readJsonSplit(file: string): Array<[string, number]> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new FormatError(`${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new FormatError(`${file}: expected an object mapping image path -> class id`);
  }
  const out: Array<[string, number]> = [];
  for (const [path, id] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
      throw new FormatError(`${file}: entry "${path}": class id ${JSON.stringify(id)} is not a non-negative integer`);
    }
    out.push([path, id]);
  }
  return out;
}

/**
 * Reads one split of an FGVC dataset folder. Class ids are made contiguous over the sorted union of the
 * ids in every JSON file present, so train/val/test agree even where a split lacks a class
 * (VPT maps each split on its own, which is the same mapping when all classes appear).
 */
export function readFgvc(root: string, name: FgvcName, split: FgvcSplit, opts: FgvcOptions = {}): FgvcDataset {
  if (!(name in FGVC_IMAGE_ROOTS)) throw unknownName("FGVC dataset", name, Object.keys(FGVC_IMAGE_ROOTS));
  if (!SPLITS.includes(split)) throw unknownName("FGVC split", split, SPLITS);
  const dir = resolve(root);
  const imageDir = join(dir, opts.imageRoot ?? FGVC_IMAGE_ROOTS[name]);
  const parts = split === "trainval" ? ["train", "val"] : [split];
  const entries: Array<[string, number, string]> = [];
  for (const p of parts) {
    const file = join(dir, `${p}.json`);
    if (!existsSync(file)) throw new FormatError(`missing split file ${file} (VPT layout: train.json, val.json, test.json)`);
    for (const [path, id] of readJsonSplit(file)) entries.push([path, id, file]);
  }
  const ids = new Set<number>();
  for (const p of ["train", "val", "test"]) {
    const file = join(dir, `${p}.json`);
    if (!existsSync(file)) continue;
    for (const [, id] of parts.includes(p) ? entries.filter((e) => e[2] === file) : readJsonSplit(file)) ids.add(id);
  }
  const originalIds = [...ids].sort((a, b) => a - b);
  const toContiguous = new Map(originalIds.map((id, i) => [id, i]));
  if (entries.length === 0) throw new FormatError(`${join(dir, parts[0] + ".json")}: empty dataset (no entries)`);
  const numClasses = opts.numClasses ?? originalIds.length;
  if (opts.numClasses !== undefined && (!Number.isInteger(numClasses) || numClasses < 1)) {
    throw new ConfigError(`numClasses must be a positive integer, got ${opts.numClasses}`);
  }
  const samples: Sample[] = entries.map(([path, id, file]) => {
    const label = toContiguous.get(id)!;
    if (label >= numClasses) {
      throw new FormatError(`${file}: entry "${path}": class id ${id} maps to ${label}, out of range [0, ${numClasses})`);
    }
    const origin = `${file}: "${path}"`;
    return { source: resolveEntry(imageDir, path, origin, opts.allowOutsidePaths), label, origin };
  });
  return new FgvcDataset(samples, numClasses, originalIds);
}
