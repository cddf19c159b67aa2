/** @file One epoch's log record (a line of log.jsonl) and its one-line description. */
import type { LoaderStats } from "../data/loader.js";
import { peakRssMiB } from "../runtime/memory.js";
import type { EvalSummary } from "./evaluate.js";
import type { EpochRecord } from "./run-log.js";

/** Median of a list (0 when empty). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** What an epoch measured, to turn into its record. */
export interface EpochMeasures {
  epoch: number;
  lr: number;
  lossSum: number;
  lossCount: number;
  seconds: number;
  stepTimes: readonly number[];
  /** The data loader's counters before and after the epoch. */
  decode: readonly [Pick<LoaderStats, "images" | "busySeconds" | "waitSeconds" | "skipped">, Pick<LoaderStats, "images" | "busySeconds" | "waitSeconds" | "skipped">];
  gradNorms: readonly number[];
  live: EvalSummary | null;
  ema: EvalSummary | null;
  /** The method runtime's fields (e.g. SNELLA's budget). */
  method: Readonly<Record<string, number>>;
}

export function epochRecord(m: EpochMeasures): EpochRecord {
  const [d0, d1] = m.decode;
  const busy = d1.busySeconds - d0.busySeconds;
  return {
    epoch: m.epoch, lr: m.lr, loss: m.lossCount ? m.lossSum / m.lossCount : NaN, top1: m.live ? m.live.top1 : null, top5: m.live ? m.live.top5 : null,
    ...(m.ema ? { emaTop1: m.ema.top1, emaTop5: m.ema.top5 } : {}),
    seconds: m.seconds, peakRssMiB: peakRssMiB(),
    steps: m.stepTimes.length, stepSeconds: median(m.stepTimes),
    decodeImagesPerSecond: busy > 0 ? (d1.images - d0.images) / busy : 0,
    dataWaitSeconds: d1.waitSeconds - d0.waitSeconds,
    evalSeconds: (m.live?.seconds ?? 0) + (m.ema?.seconds ?? 0),
    skippedImages: d1.skipped - d0.skipped,
    ...(m.gradNorms.length ? { gradNorm: m.gradNorms.reduce((a, b) => a + b, 0) / m.gradNorms.length } : {}),
    ...m.method,
  };
}

/** "epoch 3/10: lr 1.0e-3 loss 0.4123 top-1 81.20% top-5 98.00% (best) 12.3 s, step 0.21 s, decode 410 img/s, peak RSS 812 MiB". */
export function describeEpoch(r: EpochRecord, epochs: number, best = false): string {
  const acc = r.top1 === null ? "" : ` top-1 ${r.top1.toFixed(2)}% top-5 ${r.top5!.toFixed(2)}%${best ? " (best)" : ""}`;
  const ema = typeof r.emaTop1 === "number" ? ` EMA top-1 ${r.emaTop1.toFixed(2)}%` : "";
  const skipped = (r.skippedImages as number) > 0 ? `, ${r.skippedImages} images skipped` : "";
  return `epoch ${r.epoch + 1}/${epochs}: lr ${r.lr.toExponential(2)} loss ${r.loss.toFixed(4)}${acc}${ema} ` +
    `${r.seconds.toFixed(1)} s, step ${(r.stepSeconds as number).toFixed(3)} s, decode ${Math.round(r.decodeImagesPerSecond as number)} img/s, ` +
    `peak RSS ${Math.round(r.peakRssMiB)} MiB${skipped}`;
}
