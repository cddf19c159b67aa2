/**
 * @file What identifies a run's data (folder, layout, splits, classes and a hash of both split lists),
 * stored in run.json, so `snell train --resume` with other data is refused instead of silently
 * continuing on it. A moved folder with the same lists is accepted and reported.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import type { Dataset } from "../data/dataset.js";
import { ConfigError } from "../errors.js";
import type { ConfigObject } from "./config-file.js";

/** run.json's `dataIdentity`. */
export interface DataIdentity {
  data: string | null;
  datasetFormat: string;
  fgvcName: string | null;
  trainSplit: string;
  evalSplit: string;
  numClasses: number;
  classNames: string[] | null;
  /** sha256 of each split's (file relative to the data folder, label) list. */
  lists: { train: string; eval: string };
}

/** Hash of a split's entries: files relative to `root` (so a moved folder hashes the same) and labels. */
export function listFingerprint(ds: Dataset, root: string | undefined): string {
  const h = createHash("sha256");
  for (let i = 0; i < ds.length; i++) {
    const s = ds.item(i);
    const src = typeof s.source === "string" ? (root ? path.relative(root, s.source) : s.source) : `${s.source.width}x${s.source.height}x${s.source.channels}`;
    h.update(`${src}\t${s.label}\n`);
  }
  return h.digest("hex");
}

/** The identity of the data a run trains and evaluates on. */
export function dataIdentity(
  spec: { data?: string; datasetFormat: string; fgvcName?: string },
  splits: { train: string; eval: string }, numClasses: number, trainSet: Dataset, evalSet: Dataset,
): DataIdentity {
  return {
    data: spec.data ?? null, datasetFormat: spec.datasetFormat, fgvcName: spec.fgvcName ?? null,
    trainSplit: splits.train, evalSplit: splits.eval, numClasses, classNames: trainSet.classNames ? [...trainSet.classNames] : null,
    lists: { train: listFingerprint(trainSet, spec.data), eval: listFingerprint(evalSet, spec.data) },
  };
}

/** The identity an older run.json implies (no list hashes; split names as given, else the layout's defaults). */
function storedIdentity(run: ConfigObject, defaults: { train: string; eval: string }): Partial<DataIdentity> {
  if (run.dataIdentity && typeof run.dataIdentity === "object") return run.dataIdentity as unknown as DataIdentity;
  const spec = (run.spec ?? {}) as Record<string, unknown>;
  return {
    data: (spec.data as string | undefined) ?? null, datasetFormat: spec.datasetFormat as string, fgvcName: (spec.fgvcName as string | undefined) ?? null,
    trainSplit: (spec.trainSplit as string | undefined) ?? defaults.train, evalSplit: (spec.evalSplit as string | undefined) ?? defaults.eval,
    numClasses: run.numClasses as number, classNames: (run.classNames as string[] | undefined) ?? null,
  };
}

const LABELS: Record<string, string> = {
  datasetFormat: "dataset format", fgvcName: "FGVC name", trainSplit: "training split", evalSplit: "evaluation split",
  numClasses: "class count", classNames: "class names",
};

/**
 * Compares the data of a resumed run with the run's stored identity. Other data (layout, splits, classes,
 * list contents) is refused with a ConfigError naming every change; a moved folder whose lists hash the
 * same returns a note. `defaults` are the layout's default split names (for run.json files without
 * `dataIdentity`).
 */
export function checkResumeData(run: ConfigObject, now: DataIdentity, defaults: { train: string; eval: string }): string[] {
  const was = storedIdentity(run, defaults);
  const show = (v: unknown) => (Array.isArray(v) && v.length > 6 ? `[${v.slice(0, 6).join(", ")}, ...]` : JSON.stringify(v));
  const changed = Object.keys(LABELS).filter((k) => JSON.stringify(was[k as keyof DataIdentity] ?? null) !== JSON.stringify(now[k as keyof DataIdentity] ?? null))
    .map((k) => `${LABELS[k]}: ${show(was[k as keyof DataIdentity])} -> ${show(now[k as keyof DataIdentity])}`);
  for (const s of ["train", "eval"] as const) {
    if (was.lists && was.lists[s] !== now.lists[s]) changed.push(`${s === "train" ? "training" : "evaluation"} list (${now[s === "train" ? "trainSplit" : "evalSplit"]}) has other files or labels`);
  }
  const moved = (was.data ?? null) !== now.data;
  if (changed.length) {
    throw new ConfigError(`resume refused: the data differ from the run's (${moved ? `folder ${was.data} -> ${now.data}; ` : ""}${changed.join("; ")}); resume with the run's data, or start a new run (--overwrite or another --out)`);
  }
  if (!moved) return [];
  return [was.lists
    ? `note: resuming with the data folder moved (${was.data} -> ${now.data}); both split lists are the same`
    : `note: resuming with another data folder (${was.data} -> ${now.data}); this run.json has no list hashes to compare, so check it is the same data`];
}
