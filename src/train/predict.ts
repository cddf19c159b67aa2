/** @file Top-k predictions for image files through the same Evaluator and eval preprocessing that `snell eval` uses. */
import { transformSample } from "../data/decode.js";
import { sampleLength, type TransformSpec } from "../data/transforms.js";
import { rankClasses, type Evaluator } from "./evaluate.js";

/** One ranked class. */
export interface ClassScore {
  /** Contiguous class id. */
  class: number;
  /** Its name, where the dataset layout has names. */
  name?: string;
  /** Softmax probability. */
  prob: number;
}

/** Predictions for one image. */
export interface ImagePrediction {
  file: string;
  /** Best first. */
  top: ClassScore[];
}

/** Numerically stable softmax of one row, in float64. */
export function softmax(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]!);
  const out = new Float64Array(row.length);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += out[i] = Math.exp(row[i]! - m);
  for (let i = 0; i < row.length; i++) out[i]! /= s;
  return out;
}

/**
 * Decodes `files` with the eval transform, runs them in batches of `evaluator.batchSize` (the last one
 * zero-padded, its padding ignored) and returns the top `topK` classes of each.
 *
 * @example
 * const preds = await predictFiles(evaluator, ["cat.png"], makeTransform("snell-vtab", { train: false }));
 */
export async function predictFiles(
  evaluator: Evaluator,
  files: readonly string[],
  transform: TransformSpec,
  { topK = 5, classNames }: { topK?: number; classNames?: readonly string[] } = {},
): Promise<ImagePrediction[]> {
  const B = evaluator.batchSize, C = evaluator.numClasses;
  const per = sampleLength(transform);
  const out: ImagePrediction[] = [];
  for (let from = 0; from < files.length; from += B) {
    const chunk = files.slice(from, from + B);
    const images = new Float32Array(B * per);
    const decoded = await Promise.all(chunk.map((f, i) => transformSample(f, transform, { seed: 0, epoch: 0, index: from + i, origin: f })));
    decoded.forEach((t, i) => images.set(t, i * per));
    const logits = await evaluator.logits(images);
    chunk.forEach((file, i) => {
      const row = logits.subarray(i * C, (i + 1) * C);
      const p = softmax(row);
      const top = rankClasses(row, Math.min(topK, C)).map((c) => {
        const s: ClassScore = { class: c, prob: p[c]! };
        if (classNames?.[c] !== undefined) s.name = classNames[c];
        return s;
      });
      out.push({ file, top });
    });
  }
  return out;
}
