/**
 * @file Competition-based sparsification of a kernel matrix K: entries whose |K| is at or below the
 * per-matrix quantile t are zeroed. Hard form (authors' code): dW = K * stopgrad(|K| * [|K| > t]);
 * soft form (paper Eq. 5): dW = K * max(|K| - t, 0).
 */
import type { GraphBuilder } from "../../ir/builder.js";
import type { Value } from "../../ir/value.js";
import { thresholdOf, type ThresholdOptions } from "./threshold-graph.js";

export interface SparsifyOptions extends ThresholdOptions {
  soft?: boolean;
}

export interface SparsifyResult {
  dW: Value;
  /** Scalar bool: the threshold's sample bracket held (see threshold-graph.ts); null when s = 0. */
  ok: Value | null;
}

/**
 * Sparsifies K at sparsity s (a build-time number, or a fed float32 scalar). s = 0 returns K itself;
 * with a fed s, s <= 0 selects K at run time.
 */
export function sparsify(g: GraphBuilder, K: Value, s: number | Value, opts: SparsifyOptions = {}): SparsifyResult {
  if (typeof s === "number" && s <= 0) return { dW: K, ok: null };
  const mag = g.stopGradient(g.Abs(K));
  const { t, ok } = thresholdOf(g, mag, s, opts);
  // t carries no gradient in either form; in the soft form |K| does.
  // The hard mask as mag * [mag > t]: Cast and Mul, where ORT's broadcasting Where is slow.
  let mult = opts.soft ? g.Relu(g.Sub(g.Abs(K), g.stopGradient(t))) : g.Mul(mag, g.Cast(g.Greater(mag, t), K.dtype));
  if (typeof s !== "number") {
    // A fed s <= 0 means dW = K: the multiplier becomes 1 (off = 1), with scalar arithmetic.
    const off = g.Cast(g.LessOrEqual(s, g.scalar(0, s.dtype)), K.dtype);
    mult = g.Add(g.Mul(mult, g.Sub(g.scalar(1, K.dtype), off)), off);
  }
  return { dW: g.Mul(K, mult), ok };
}
