/**
 * @file Competition-based sparsification of a kernel matrix K: entries whose |K| is at or below the
 * per-matrix quantile t are zeroed. Hard form (authors' code): dW = K * stopgrad(|K| * [|K| > t]);
 * soft form (paper Eq. 5): dW = K * max(|K| - t, 0).
 */
import type { GraphBuilder } from "../../ir/builder.js";
import type { Value } from "../../ir/value.js";
import { thresholdOf, type ThresholdOptions } from "./threshold-graph.js";

/**
 * What s = 0 means, per method (recorded in run.json): SNELL swaps in plain K (the authors' KLoRA
 * module, chosen when init_thres == 0); SNELLA keeps its threshold at quantile(|K|, 0) = min |K|, so
 * the smallest entry is zeroed and the rest become K |K| (the authors' SNELLA.sparsify, always).
 */
export const ZERO_SPARSITY = { snell: "dense", snella: "threshold" } as const;
export type ZeroSparsity = "dense" | "threshold";

/**
 * What s = 1 gives (SNELLA's allocator may reach it, as the authors'): t = quantile(|K|, 1) = max |K|,
 * no entry is strictly above it, so dW = 0 and every gradient through it is 0 (the authors'
 * F.threshold(|K|, t, 0) zeroes entries <= t; the multiplier is cut from the gradient). The matrix
 * stays off until the allocator lowers s again.
 */
export const FULL_SPARSITY = "zero-update";

export interface SparsifyOptions extends ThresholdOptions {
  soft?: boolean;
  /** s = 0 (build-time or fed): "dense" returns K (SNELL, default), "threshold" keeps the threshold (SNELLA). */
  atZero?: ZeroSparsity;
}

export interface SparsifyResult {
  dW: Value;
  /** Scalar bool: the threshold's sample bracket held (see threshold-graph.ts); null when s = 0. */
  ok: Value | null;
}

/**
 * Sparsifies K at sparsity s in [0, 1] (a build-time number, or a fed float32 scalar). With
 * `atZero: "dense"`, s = 0 returns K itself and a fed s <= 0 selects K at run time; with "threshold"
 * every s goes through the threshold (see ZERO_SPARSITY, FULL_SPARSITY).
 */
export function sparsify(g: GraphBuilder, K: Value, s: number | Value, opts: SparsifyOptions = {}): SparsifyResult {
  const dense = (opts.atZero ?? "dense") === "dense";
  if (typeof s === "number" && s <= 0 && dense) return { dW: K, ok: null };
  const mag = g.stopGradient(g.Abs(K));
  const { t, ok } = thresholdOf(g, mag, s, opts);
  // t carries no gradient in either form; in the soft form |K| does.
  // The hard mask as mag * [mag > t]: Cast and Mul, where ORT's broadcasting Where is slow.
  let mult = opts.soft ? g.Relu(g.Sub(g.Abs(K), g.stopGradient(t))) : g.Mul(mag, g.Cast(g.Greater(mag, t), K.dtype));
  if (typeof s !== "number" && dense) {
    // A fed s <= 0 means dW = K: the multiplier becomes 1 (off = 1), with scalar arithmetic.
    const off = g.Cast(g.LessOrEqual(s, g.scalar(0, s.dtype)), K.dtype);
    mult = g.Add(g.Mul(mult, g.Sub(g.scalar(1, K.dtype), off)), off);
  }
  return { dW: g.Mul(K, mult), ok };
}
