/** @file Classification metrics: top-k accuracy from logits, running means, and last-vs-best accuracy. */
import { ConfigError, RuntimeError, ShapeError } from "../errors.js";

/**
 * 0-based rank of class `label` in one row of logits, highest first. Ties are broken towards the lower
 * class index (as a stable descending sort would), so results never depend on the order of evaluation.
 * NaN sorts below every number, so a NaN logit for the true class is never counted as correct.
 */
export function labelRank(row: ArrayLike<number>, label: number): number {
  const x = row[label];
  let rank = 0;
  if (Number.isNaN(x)) {
    for (let c = 0; c < row.length; c++) if (!Number.isNaN(row[c]) || c < label) rank++;
    return rank;
  }
  for (let c = 0; c < row.length; c++) {
    const v = row[c];
    if (v > x || (v === x && c < label)) rank++;
  }
  return rank;
}

/** Correct-prediction counts of one batch for each k. */
export interface TopKCounts {
  /** Number of samples. */
  n: number;
  /** correct[i] = samples whose label ranks below ks[i]. */
  correct: number[];
}

/**
 * Counts top-k hits of a batch. `logits` is row-major [n, numClasses]. k larger than numClasses counts
 * every sample (note: the authors' engine.py logs top-5 as 0 when a task has fewer than 5 classes,
 * because torch.topk raises there; we report the mathematically correct 100%).
 */
export function topKCounts(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, ks: readonly number[] = [1, 5]): TopKCounts {
  const n = labels.length;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new ConfigError(`topKCounts: numClasses must be an integer >= 1, got ${numClasses}`);
  if (logits.length !== n * numClasses) {
    throw new ShapeError(`topKCounts: logits have ${logits.length} values, expected ${n} samples x ${numClasses} classes = ${n * numClasses}`);
  }
  const correct = ks.map(() => 0);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new ConfigError(`topKCounts: label ${y} of sample ${i} is out of range [0, ${numClasses})`);
    }
    const row = Array.prototype.slice.call(logits, i * numClasses, (i + 1) * numClasses) as number[];
    const r = labelRank(row, y);
    ks.forEach((k, j) => { if (r < k) correct[j]++; });
  }
  return { n, correct };
}

/** Accumulates top-1 and top-5 over an evaluation pass; accuracies are percentages as the authors print them. */
export class AccuracyMeter {
  private n = 0;
  private hit1 = 0;
  private hit5 = 0;
  constructor(readonly numClasses: number) {}
  /** Adds one batch of row-major logits [labels.length, numClasses]. */
  update(logits: ArrayLike<number>, labels: ArrayLike<number>): void {
    const { n, correct } = topKCounts(logits, labels, this.numClasses, [1, 5]);
    this.n += n;
    this.hit1 += correct[0];
    this.hit5 += correct[1];
  }
  /** Samples seen. */
  get count(): number { return this.n; }
  /** Top-1 accuracy in percent (NaN before any sample). */
  get top1(): number { return this.n ? (100 * this.hit1) / this.n : NaN; }
  /** Top-5 accuracy in percent (NaN before any sample). */
  get top5(): number { return this.n ? (100 * this.hit5) / this.n : NaN; }
}

/** A weighted running mean (e.g. the epoch's training loss, weighted by batch size). */
export class RunningMean {
  private sum = 0;
  private weight = 0;
  private last = NaN;
  /** Adds `value` with weight `n` (the batch size). Non-finite values propagate, so a NaN loss is visible. */
  update(value: number, n = 1): void {
    this.sum += value * n;
    this.weight += n;
    this.last = value;
  }
  /** The mean so far (NaN before any update). */
  get mean(): number { return this.weight ? this.sum / this.weight : NaN; }
  /** The most recent value. */
  get latest(): number { return this.last; }
  /** Total weight. */
  get count(): number { return this.weight; }
  /** Clears the mean for the next epoch. */
  reset(): void { this.sum = 0; this.weight = 0; this.last = NaN; }
}

/**
 * Throws when a step's loss is NaN or infinite (the authors' engine.py exits there too), naming where it
 * happened; the trainer should keep the last good checkpoint and not write a new one.
 */
export function assertFiniteLoss(loss: number, where: { epoch: number; step: number; lr?: number }): void {
  if (Number.isFinite(loss)) return;
  const lr = where.lr === undefined ? "" : ` at lr ${where.lr.toExponential(3)}`;
  throw new RuntimeError(
    `training loss is ${loss} in epoch ${where.epoch + 1}, step ${where.step + 1}${lr}; stopping. ` +
    `The last checkpoint holds the last good state: resume from it with a lower lr, or enable gradient clipping`,
  );
}

/** One evaluation result. */
export interface EvalPoint {
  /** 0-based epoch after which the evaluation ran. */
  epoch: number;
  /** Top-1 accuracy, percent. */
  top1: number;
  /** Top-5 accuracy, percent. */
  top5: number;
}

/** Serialisable state of an AccuracyTracker (stored in checkpoints). */
export interface AccuracyTrackerState {
  last: EvalPoint | null;
  best: EvalPoint | null;
}

/**
 * Tracks the last and the best evaluation. "best" is the maximum top-1 over all evaluations, which is the
 * number the SNELL authors report (train.py: `max_accuracy`, updated only on a strictly greater top-1,
 * so among equal values the earliest epoch is kept); "last" is the final evaluation.
 */
export class AccuracyTracker {
  last: EvalPoint | null;
  best: EvalPoint | null;
  constructor(state: AccuracyTrackerState = { last: null, best: null }) {
    this.last = state.last;
    this.best = state.best;
  }
  /** Records an evaluation; returns true when it is a new best. */
  update(point: EvalPoint): boolean {
    this.last = { ...point };
    if (!this.best || point.top1 > this.best.top1) {
      this.best = { ...point };
      return true;
    }
    return false;
  }
  /** State for a checkpoint. */
  toJSON(): AccuracyTrackerState {
    return { last: this.last, best: this.best };
  }
  /** One line that names both numbers, e.g. for the end of `snell train`. */
  describe(): string {
    if (!this.last || !this.best) return "no evaluation yet";
    const f = (x: number) => x.toFixed(2);
    return `last: top-1 ${f(this.last.top1)}% top-5 ${f(this.last.top5)}% (epoch ${this.last.epoch + 1}); ` +
      `best: top-1 ${f(this.best.top1)}% (epoch ${this.best.epoch + 1}; the maximum over evaluations, as the SNELL paper reports)`;
  }
}
