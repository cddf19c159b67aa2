/**
 * @file The class count of a run, from the labels of all its splits, refusing label sets that cannot
 * be right: one stray "1000000" would otherwise build a million-class head that trains at 0%.
 */
import { FormatError } from "../errors.js";
import type { Dataset } from "./dataset.js";

interface LabelStats {
  /** Largest label and where it was listed. */
  max: number;
  maxOrigin: string;
  distinct: Set<number>;
}

function statsOf(ds: Dataset, name: string): LabelStats {
  const s: LabelStats = { max: -1, maxOrigin: name, distinct: new Set() };
  for (let i = 0; i < ds.length; i++) {
    const { label, origin } = ds.item(i);
    s.distinct.add(label);
    if (label > s.max) {
      s.max = label;
      s.maxOrigin = origin ?? name;
    }
  }
  return s;
}

/** A split by name, the first one being the training split. */
export interface NamedSplit {
  name: string;
  ds: Dataset;
}

/**
 * The class count: `given` (every label must be below it), else the largest label of all splits + 1,
 * refused when most of those classes never occur (sparse labels), when there are more classes than
 * images, or when most classes never occur in the training split. Errors name the file and line of
 * the largest label and say how to proceed when the labels are right (`--num-classes`).
 */
export function inferNumClasses(splits: readonly NamedSplit[], given?: number): number {
  const stats = splits.map((s) => statsOf(s.ds, s.name));
  if (given !== undefined) {
    for (const s of stats) if (s.max >= given) throw new FormatError(`${s.maxOrigin}: label ${s.max} out of range [0, ${given}) (--num-classes ${given})`);
    return given;
  }
  const top = stats.reduce((a, b) => (b.max > a.max ? b : a));
  const k = top.max + 1;
  const images = splits.reduce((n, s) => n + s.ds.length, 0);
  const distinct = new Set(stats.flatMap((s) => [...s.distinct])).size;
  const keep = `fix the label, or pass --num-classes ${k} if ${k} classes are right`;
  if (distinct * 2 < k || k > images) {
    throw new FormatError(`${top.maxOrigin}: label ${top.max} makes ${k} classes, but the ${images} images use only ${distinct} distinct labels; ${keep}`);
  }
  const trained = stats[0]!;
  if (trained.distinct.size * 2 < k) {
    throw new FormatError(`${top.maxOrigin}: label ${top.max} out of range [0, ${trained.max + 1}) of the training split (${splits[0]!.name}), ` +
      `where ${k - trained.distinct.size} of ${k} classes never occur; ${keep}`);
  }
  return k;
}
