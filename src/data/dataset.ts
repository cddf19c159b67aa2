/** @file The Dataset contract shared by every reader, plus the checks all readers apply to labels. */
import { FormatError } from "../errors.js";

/** Decoded pixels held in memory (IDX/MNIST), row-major HWC, 8 bits per channel. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 (grey) or 3 (RGB); grey is repeated into 3 channels when decoded. */
  channels: 1 | 3;
}

/** An absolute image path (JPEG/PNG/anything sharp reads) or pixels already in memory. */
export type ImageSource = string | RawImage;

/** One example: where its pixels come from, its contiguous class id, and where it was listed. */
export interface Sample {
  source: ImageSource;
  /** Contiguous class id in [0, numClasses). */
  label: number;
  /** "file:line" (or "file: key") of the list entry, for error messages. */
  origin?: string;
}

/** Random-access dataset; item(i) must be cheap (no decoding) and deterministic. */
export interface Dataset {
  readonly length: number;
  readonly numClasses: number;
  /** Name of each contiguous class id, where the layout has names (folder names, original FGVC ids). */
  readonly classNames?: readonly string[];
  item(i: number): Sample;
}

/** A Dataset over an array of samples. */
export class ListDataset implements Dataset {
  readonly length: number;
  constructor(
    readonly samples: readonly Sample[],
    readonly numClasses: number,
    readonly classNames?: readonly string[],
  ) {
    this.length = samples.length;
  }
  item(i: number): Sample {
    const s = this.samples[i];
    if (s === undefined) throw new RangeError(`dataset index ${i} out of range [0, ${this.length})`);
    return s;
  }
}

/** Options every list-based reader takes. */
export interface ReaderOptions {
  /** Expected class count: labels must lie in [0, numClasses). Without it, numClasses = max label + 1. */
  numClasses?: number;
  /** Let list entries be absolute or leave the data folder through `..` (see entry-path.ts). */
  allowOutsidePaths?: boolean;
}

/**
 * Checks labels against numClasses (or infers it) and rejects an empty list.
 * `where` names the list file for the empty-dataset message.
 */
export function finishLabels(samples: Sample[], where: string, numClasses?: number): number {
  if (samples.length === 0) throw new FormatError(`${where}: empty dataset (no entries)`);
  let max = -1;
  for (const s of samples) {
    if (numClasses !== undefined && s.label >= numClasses) {
      throw new FormatError(`${s.origin ?? where}: label ${s.label} out of range [0, ${numClasses})`);
    }
    if (s.label > max) max = s.label;
  }
  return numClasses ?? max + 1;
}

/** Parses a non-negative decimal integer label, or returns undefined. */
export function parseLabel(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const v = Number(text);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** A view of `base` restricted to `indices` (e.g. the first 1,000 of a shuffled order). */
export function subset(base: Dataset, indices: ArrayLike<number>): Dataset {
  const idx = Array.from(indices);
  for (const i of idx) {
    if (!Number.isInteger(i) || i < 0 || i >= base.length) {
      throw new RangeError(`subset index ${i} out of range [0, ${base.length})`);
    }
  }
  return {
    length: idx.length,
    numClasses: base.numClasses,
    ...(base.classNames ? { classNames: base.classNames } : {}),
    item: (i: number) => {
      const j = idx[i];
      if (j === undefined) throw new RangeError(`dataset index ${i} out of range [0, ${idx.length})`);
      return base.item(j);
    },
  };
}
