/** @file VTAB-1k task folders (the NOAH/SNELL layout): list files of `relative/path label` lines. */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { resolveEntry } from "./entry-path.js";
import { ConfigError, FormatError, unknownName } from "../errors.js";
import { finishLabels, ListDataset, parseLabel, type ReaderOptions, type Sample } from "./dataset.js";

/** The list files a VTAB-1k task folder holds. train800val200 trains the reported runs; test evaluates them. */
export const VTAB_SPLITS = ["train800val200", "train800", "val200", "test"] as const;
export type VtabSplit = (typeof VTAB_SPLITS)[number];

/**
 * Reads `<root>/<split>.txt`. Each non-blank line is `path label`; the path is relative to root and
 * may hold spaces (the label is the last field) and must stay inside root unless
 * `opts.allowOutsidePaths`. Errors name the file and line.
 */
export function readVtab(root: string, split: VtabSplit, opts: ReaderOptions = {}): ListDataset {
  if (!(VTAB_SPLITS as readonly string[]).includes(split)) throw unknownName("VTAB split", split, VTAB_SPLITS);
  const dir = resolve(root);
  const file = join(dir, `${split}.txt`);
  if (!existsSync(file)) {
    throw new FormatError(`missing split file ${file} (a VTAB-1k task folder holds ${VTAB_SPLITS.map((s) => s + ".txt").join(", ")})`);
  }
  return new ListDataset(...parseListFile(file, dir, opts));
}

/** Parses one `path label` list file; image paths resolve against `imageRoot`. */
export function parseListFile(file: string, imageRoot: string, opts: ReaderOptions = {}): [Sample[], number] {
  if (opts.numClasses !== undefined && (!Number.isInteger(opts.numClasses) || opts.numClasses < 1)) {
    throw new ConfigError(`numClasses must be a positive integer, got ${opts.numClasses}`);
  }
  const text = readFileSync(file, "utf8");
  const samples: Sample[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === "") continue;
    const origin = `${file}:${n + 1}`;
    const m = /^(.*\S)\s+(\S+)$/.exec(line);
    if (!m) throw new FormatError(`${origin}: malformed line "${line}"; expected "relative/path label"`);
    const label = parseLabel(m[2]!);
    if (label === undefined) throw new FormatError(`${origin}: label "${m[2]}" is not a non-negative integer`);
    samples.push({ source: resolveEntry(imageRoot, m[1]!, origin, opts.allowOutsidePaths), label, origin });
  }
  const numClasses = finishLabels(samples, file, opts.numClasses);
  return [samples, numClasses];
}
