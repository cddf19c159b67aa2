/**
 * @file The per-matrix threshold t = quantile(|K|, s) inside the step graph, exact and without a full
 * sort. Small matrices are sorted whole. Large ones: a strided sample (Slice with a prime step),
 * sorted, gives a lower bound lo a few standard deviations below rank s; an exact count of |K| < lo
 * (ReduceSum of Less) places lo; TopK on |K| with everything below lo masked to +inf returns the
 * smallest `capacity` values from lo up, sorted, and the two order statistics around rank s are
 * read from them by index. Comparisons and counts only, so the result is exact whenever the
 * returned `ok` is true; when the sample misled the bound, `ok` is false and the caller reruns
 * the step with `exact: true` (the state is fed, so a rerun is safe).
 */
import type { GraphBuilder } from "../../ir/builder.js";
import { numel } from "../../ir/dtype.js";
import type { Value } from "../../ir/value.js";
import { planBracket, quantilePosition, type BracketPlan } from "./threshold.js";

/** Stand-in for +inf on masked entries (Max with inf*0 would give NaN). */
const MASKED = 1e30;

export interface ThresholdResult {
  /** Scalar threshold t, dtype of |K|. */
  t: Value;
  /** Scalar bool: the bracket held (always true on the exact path). */
  ok: Value;
  plan: BracketPlan;
}

export interface ThresholdOptions {
  /** Sort whole matrices (slow on large ones; the fallback). */
  exact?: boolean;
  sample?: number;
  exactMax?: number;
}

/** Rank position as graph values: q (int64 []) and frac (dtype []), from a static or fed s. */
function position(g: GraphBuilder, n: number, s: number | Value, dtype: Value["dtype"]): { q: Value; frac: Value } {
  if (typeof s === "number") {
    const { lo, frac } = quantilePosition(n, s);
    return { q: g.constant([lo], [], "int64"), frac: g.scalar(frac, dtype) };
  }
  // float64 keeps s * (n - 1) exact enough to land on the same integer part as torch's float64 path
  const pos = g.Mul(g.Cast(s, "float64"), g.scalar(n - 1, "float64"));
  const q = g.Cast(pos, "int64");
  return { q, frac: g.Cast(g.Sub(pos, g.Cast(q, "float64")), dtype) };
}

/** Reads element i (int64 []) of a 1-D value as a scalar. */
function at(g: GraphBuilder, x: Value, i: Value): Value {
  return g.Gather(x, i, 0);
}

/**
 * Threshold of one matrix's magnitudes `mag` (already cut from the gradient). `s` is a number
 * fixed at build time or a fed float32 scalar in [0, 1).
 */
export function thresholdOf(g: GraphBuilder, mag: Value, s: number | Value, opts: ThresholdOptions = {}): ThresholdResult {
  const dt = mag.dtype;
  const rows = mag.rank >= 2 ? numel(mag.shape.slice(0, -1)) : 1;
  const cols = mag.shape[mag.rank - 1] ?? 1;
  const n = rows * cols;
  const plan = opts.exact
    ? { exact: true, n, stride: 1, sampleSize: n, margin: 0, capacity: n, rows: 1, perRow: n }
    : planBracket(rows, cols, typeof s === "number" ? s : null, opts);
  const flat = g.Reshape(mag, [n]);
  const { q, frac } = position(g, n, s, dt);
  const one = g.constant([1], [], "int64");
  const last = g.constant([n - 1], [], "int64");
  // frac = 0 reads `below` alone, so an absent upper neighbour (+inf at s -> 1) cannot poison t
  const lerp = (below: Value, above: Value) =>
    g.Where(g.Equal(frac, g.scalar(0, dt)), below, g.Add(below, g.Mul(frac, g.Sub(above, below))));

  if (plan.exact) {
    const [sorted] = g.TopK(flat, n, { axis: 0, largest: 0, sorted: 1 });
    const t = lerp(at(g, sorted, q), at(g, sorted, g.Min(g.Add(q, one), last)));
    return { t, ok: g.constant([1], [], "bool"), plan };
  }

  const { stride, sampleSize, margin, capacity } = plan;
  const sample = g.Slice(flat, [0], [n], [0], [stride]);
  const [sortedSample] = g.TopK(sample, sampleSize, { axis: 0, largest: 0, sorted: 1 });
  // Sample rank of s, minus the margin; below 0 the bound is "everything" (lo = -1 < every |K|).
  const qs = typeof s === "number"
    ? g.constant([Math.floor(s * (sampleSize - 1)) - margin], [], "int64")
    : g.Sub(g.Cast(g.Mul(g.Cast(s, "float64"), g.scalar(sampleSize - 1, "float64")), "int64"), g.constant([margin], [], "int64"));
  const zero = g.constant([0], [], "int64");
  const fromSample = at(g, sortedSample, g.Max(qs, zero));
  const lo = g.Where(g.Less(qs, zero), g.scalar(-1, dt), fromSample);

  // Count and mask with arithmetic: ORT's broadcasting Where is several times slower than Cast, Mul
  // and Max here, and a float count is exact below 2^24 entries.
  const below = g.Cast(g.Less(flat, lo), dt);
  const countLo = g.Cast(g.ReduceSum(below, [0], 0), "int64");
  const masked = g.Max(flat, g.Mul(below, g.scalar(MASKED, dt)));
  // TopK cost grows with k: split the array into rows, keep each row's smallest few (parallel, small
  // heaps), then select among their union. The union holds every candidate up to the answer
  // unless a row was cut at or below it, which `ok` checks.
  const { rows: R, perRow } = plan;
  const [rowBest] = g.TopK(g.Reshape(masked, [R, n / R]), perRow, { axis: 1, largest: 0, sorted: 0 });
  const rowCut = g.ReduceMin(g.ReduceMax(rowBest, [1], 0), [0], 0);
  const [cand] = g.TopK(g.Reshape(rowBest, [R * perRow]), capacity, { axis: 0, largest: 0, sorted: 1 });
  const p = g.Sub(q, countLo);
  const cap1 = g.constant([capacity - 1], [], "int64");
  const pc = g.Min(g.Max(p, zero), cap1);
  const above = at(g, cand, g.Min(g.Add(pc, one), cap1));
  const t = lerp(at(g, cand, pc), above);
  // p and p + 1 must be real candidates, and no row may have been cut below the upper one. A row
  // cut exactly at it is fine: every value below the cut is in the union, so a union entry equal
  // to the cut sits inside the true run of that value.
  const ok = g.And(g.And(g.GreaterOrEqual(p, zero), g.Less(p, cap1)), g.GreaterOrEqual(rowCut, above));
  return { t, ok, plan };
}
