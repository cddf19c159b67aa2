/**
 * @file A model EMA over the trained tensors, in timm's ModelEmaV2 semantics as the SNELL authors'
 * train_alloc_ema.py uses it: it starts as a copy of the model, and after every optimizer step
 * ema = decay * ema + (1 - decay) * value, in float32 as torch computes it (both factors rounded to
 * float32, each product rounded, then the sum). Frozen tensors never change, so their EMA is
 * themselves and is not stored.
 */
import { ConfigError, FormatError } from "../errors.js";

/** Suffix of an EMA tensor's name in a training checkpoint ("<param>/ema", beside the optimizer's "<param>/exp_avg"). */
export const EMA_SUFFIX = "/ema";

/**
 * @example
 * const ema = new ModelEma(0.9999, initialValues);
 * // after each step:
 * ema.update(valuesAfterStep);
 * ema.values.get("head.weight");
 */
export class ModelEma {
  readonly values = new Map<string, Float32Array>();
  private readonly keep: number;
  private readonly take: number;

  /** @param initial the trained tensors' values before the first step (copied) */
  constructor(readonly decay: number, initial: Readonly<Record<string, Float32Array>>) {
    if (!(decay > 0 && decay < 1)) throw new ConfigError(`model EMA decay must be in (0, 1), got ${decay}`);
    this.keep = Math.fround(decay);
    this.take = Math.fround(1 - decay);
    for (const [n, v] of Object.entries(initial)) this.values.set(n, v.slice());
  }

  /** Folds the values after an optimizer step in. */
  update(current: (name: string) => Float32Array): void {
    const { keep, take } = this;
    for (const [n, e] of this.values) {
      const m = current(n);
      if (m.length !== e.length) throw new ConfigError(`model EMA: "${n}" has ${m.length} values, its EMA ${e.length}`);
      for (let i = 0; i < e.length; i++) e[i] = Math.fround(keep * e[i]!) + Math.fround(take * m[i]!);
    }
  }

  /** Checkpoint tensors, named "<param>/ema". */
  toCheckpoint(): Record<string, Float32Array> {
    return Object.fromEntries([...this.values].map(([n, v]) => [`${n}${EMA_SUFFIX}`, v]));
  }

  /** Restores the EMA from checkpoint tensors; every tensor must be present with its size. */
  restore(tensors: ReadonlyMap<string, { data: Float32Array }>, file: string): void {
    for (const [n, e] of this.values) {
      const t = tensors.get(`${n}${EMA_SUFFIX}`);
      if (!t) throw new FormatError(`${file}: no model EMA for "${n}" (the run was trained without --model-ema; resume without it)`);
      if (t.data.length !== e.length) throw new FormatError(`${file}: model EMA "${n}" has ${t.data.length} values, expected ${e.length}`);
      e.set(t.data);
    }
  }
}
