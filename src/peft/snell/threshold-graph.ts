/**
 * @file The per-matrix threshold t = quantile(|K|, s) inside the step graph, exact and without a full
 * sort. Small matrices are sorted whole. Large ones: a strided sample (Slice with a prime step) gives
 * bounds lo <= hi a few standard deviations either side of rank s (selected, not sorted, when s is
 * fixed); an exact count of |K| < lo (ReduceSum of Less) places lo; everything outside [lo, hi] is
 * masked to MASKED, so TopK keeps a heap of about the bracket's size (its cost grows with the values
 * it inserts, which a lower bound alone left at a tenth of the matrix) and returns the smallest
 * `capacity` values from lo up, sorted; the two order statistics around rank s are read from them by
 * index. Comparisons and counts only, so the result is exact whenever the returned `ok` is true; when
 * the sample misled the bounds, `ok` is false and the caller reruns the step with `exact: true` (the
 * state is fed, so a rerun is safe).
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
  /** The two order statistics t interpolates between (scalars; `above` is read only when frac > 0). */
  below: Value;
  above: Value;
  plan: BracketPlan;
}

export interface ThresholdOptions {
  /** Sort whole matrices (slow on large ones; the fallback). */
  exact?: boolean;
  sample?: number;
  exactMax?: number;
  /** Rows of the candidate TopK (tuning; see planBracket). */
  rows?: number;
}

/**
 * floor(s · k) and its fraction for a fed float32 s in [0, 1] and an integer k < 2^24, exactly as
 * float64 arithmetic gives them (the product of a float32 and such a k is exact in float64), in
 * float32 and int32 ops only: WebGPU has neither float64 nor int64. Dekker's exact product
 * (Veltkamp splits, no fused multiply-add between ONNX nodes) gives s·k = x + y with x = fl(s·k);
 * the floor of x is one less when x is a whole number and y < 0.
 */
export function exactFloor(g: GraphBuilder, s: Value, k: number): { q: Value; frac: Value } {
  const f = (v: number) => g.scalar(v, "float32");
  const c = g.Mul(s, f(4097));
  const sh = g.Sub(c, g.Sub(c, s)), sl = g.Sub(s, sh);
  const cut = 2 ** Math.max(0, Math.ceil(Math.log2(k + 1)) - 12);
  const kl = k % cut, kh = k - kl; // each has at most 12 significant bits
  const x = g.Mul(s, f(k));
  const y = g.Sub(g.Mul(sl, f(kl)), g.Sub(g.Sub(g.Sub(x, g.Mul(sh, f(kh))), g.Mul(sl, f(kh))), g.Mul(sh, f(kl))));
  const xi = g.Cast(x, "int32"); // x >= 0: truncation is floor
  const whole = g.And(g.Equal(g.Cast(xi, "float32"), x), g.Less(y, f(0)));
  const q = g.Sub(xi, g.Cast(whole, "int32"));
  return { q, frac: g.Add(g.Sub(x, g.Cast(q, "float32")), y) };
}

/**
 * Rank position as graph values: q (int32 []) and frac (dtype []), from a static or fed s. Matrices of
 * 2^24 entries or more (none of ViT-H's) compute a fed s's position in float64 and int64, on CPU under WebGPU.
 */
function position(g: GraphBuilder, n: number, s: number | Value, dtype: Value["dtype"]): { q: Value; frac: Value } {
  if (typeof s === "number") {
    const { lo, frac } = quantilePosition(n, s);
    return { q: g.constant([lo], [], "int32"), frac: g.scalar(frac, dtype) };
  }
  if (n - 1 < 2 ** 24 && s.dtype === "float32") {
    const { q, frac } = exactFloor(g, s, n - 1);
    return { q, frac: dtype === "float32" ? frac : g.Cast(frac, dtype) };
  }
  // float64 keeps s * (n - 1) exact enough to land on the same integer part as torch's float64 path
  const pos = g.Mul(g.Cast(s, "float64"), g.scalar(n - 1, "float64"));
  const q = g.Cast(pos, "int64");
  return { q: g.Cast(q, "int32"), frac: g.Cast(g.Sub(pos, g.Cast(q, "float64")), dtype) };
}

/** Reads element i (int32 []) of a 1-D value as a scalar. */
function at(g: GraphBuilder, x: Value, i: Value): Value {
  return g.Gather(x, i, 0);
}

/**
 * Bounds lo <= hi of the bracket: the sample's order statistics `margin` ranks below and above its
 * estimate of rank s (-MASKED / MASKED where that runs off the sample). With s fixed at build time
 * they are selected, not sorted: TopK unsorted keeps one side, ReduceMin / ReduceMax reads its edge
 * (linear time), and the second bound is selected from the first one's output. A fed s sorts the sample.
 */
function sampleBounds(g: GraphBuilder, sample: Value, m: number, margin: number, s: number | Value, dt: Value["dtype"]): { lo: Value; hi: Value } {
  const none = { lo: g.scalar(-MASKED, dt), hi: g.scalar(MASKED, dt) };
  if (typeof s !== "number") {
    const [sorted] = g.TopK(sample, m, { axis: 0, largest: 0, sorted: 1 });
    const r = position(g, m, s, dt).q;
    const rLo = g.Sub(r, g.constant([margin], [], "int32"));
    const rHi = g.Add(r, g.constant([margin + 1], [], "int32"));
    const zero = g.constant([0], [], "int32"), last = g.constant([m - 1], [], "int32");
    return {
      lo: g.Where(g.Less(rLo, zero), none.lo, at(g, sorted, g.Max(rLo, zero))),
      hi: g.Where(g.Greater(rHi, last), none.hi, at(g, sorted, g.Min(rHi, last))),
    };
  }
  const r = Math.floor(s * (m - 1));
  const rLo = r - margin, rHi = r + 1 + margin;
  // The k largest hold ranks m - k .. m - 1 (their minimum is rank m - k); the k smallest ranks 0 .. k - 1.
  const largest = (x: Value, k: number) => g.TopK(x, k, { axis: 0, largest: 1, sorted: 0 })[0];
  const smallest = (x: Value, k: number) => g.TopK(x, k, { axis: 0, largest: 0, sorted: 0 })[0];
  if (s >= 0.5) {
    // Upper side: the m - rLo largest hold both bounds.
    if (rLo < 0) return none;
    const top = largest(sample, m - rLo);
    const lo = g.ReduceMin(top, [0], 0);
    return { lo, hi: rHi > m - 1 ? none.hi : g.ReduceMin(largest(top, m - rHi), [0], 0) };
  }
  if (rHi > m - 1) return none;
  const bottom = smallest(sample, rHi + 1);
  const hi = g.ReduceMax(bottom, [0], 0);
  return { lo: rLo < 0 ? none.lo : g.ReduceMax(smallest(bottom, rLo + 1), [0], 0), hi };
}

/**
 * Threshold of one matrix's magnitudes `mag` (already cut from the gradient). `s` is a number
 * fixed at build time or a fed float32 scalar in [0, 1] (s = 1 gives max |K|: see FULL_SPARSITY).
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
  const one = g.constant([1], [], "int32");
  const last = g.constant([n - 1], [], "int32");
  // frac = 0 reads `below` alone, so an absent upper neighbour (+inf at s -> 1) cannot poison t
  const lerp = (below: Value, above: Value) =>
    g.Where(g.Equal(frac, g.scalar(0, dt)), below, g.Add(below, g.Mul(frac, g.Sub(above, below))));

  if (plan.exact) {
    const [sorted] = g.TopK(flat, n, { axis: 0, largest: 0, sorted: 1 });
    const below = at(g, sorted, q), above = at(g, sorted, g.Min(g.Add(q, one), last));
    return { t: lerp(below, above), ok: g.constant([1], [], "bool"), below, above, plan };
  }

  const { stride, sampleSize: m, margin, capacity, rows: R, perRow } = plan;
  const sample = g.Slice(flat, [0], [n], [0], [stride]);
  const { lo, hi } = sampleBounds(g, sample, m, margin, s, dt);

  // Count and mask with arithmetic: ORT's broadcasting Where is several times slower than Cast, Mul
  // and Max here. A float count is exact below 2^24 entries; larger matrices count in int32 (indices
  // are int32 throughout: WebGPU has no int64 arithmetic).
  const lt = g.Less(flat, lo);
  const countLo = n < 2 ** 24 && dt === "float32"
    ? g.Cast(g.ReduceSum(g.Cast(lt, dt), [0], 0), "int32")
    : g.ReduceSum(g.Cast(lt, "int32"), [0], 0);
  // Everything outside [lo, hi] becomes MASKED (|K| >= 0, so Max(x, 0) = x inside): the candidate
  // TopK then inserts about as many values into its heaps as the bracket holds.
  // Outside as the sum of two exclusive flags (lo <= hi): ONNX Or has no WebGPU kernel.
  const outside = g.Add(g.Cast(lt, dt), g.Cast(g.Greater(flat, hi), dt));
  const masked = g.Max(flat, g.Mul(outside, g.scalar(MASKED, dt)));
  // One row: a single sorted TopK of the `capacity` smallest. Several rows: each row keeps its
  // smallest few (parallel, smaller heaps), then a sorted TopK selects among their union. The union
  // holds every candidate up to the answer unless a row was cut at or below it, which `ok` checks.
  let cand: Value, rowCut: Value | null = null;
  if (R === 1) {
    [cand] = g.TopK(masked, capacity, { axis: 0, largest: 0, sorted: 1 });
  } else {
    const [rowBest] = g.TopK(g.Reshape(masked, [R, n / R]), perRow, { axis: 1, largest: 0, sorted: 0 });
    rowCut = g.ReduceMin(g.ReduceMax(rowBest, [1], 0), [0], 0);
    [cand] = g.TopK(g.Reshape(rowBest, [R * perRow]), capacity, { axis: 0, largest: 0, sorted: 1 });
  }
  const p = g.Sub(q, countLo);
  const zero = g.constant([0], [], "int32");
  const cap1 = g.constant([capacity - 1], [], "int32");
  const pc = g.Min(g.Max(p, zero), cap1);
  const below = at(g, cand, pc);
  const above = at(g, cand, g.Min(g.Add(pc, one), cap1));
  const t = lerp(below, above);
  // The order statistics t reads (p, and p + 1 when frac > 0) must be real candidates (inside the
  // bracket: below MASKED), and no row may have been cut below the last one read. A row cut exactly
  // at it is fine: every value below the cut is in the union, so a union entry equal to the cut sits
  // inside the true run of that value. At s = 1 (frac 0, p the largest entry) nothing lies above p,
  // so requiring p + 1 would fail every step and force the exact rerun.
  const read = g.Where(g.Equal(frac, g.scalar(0, dt)), below, above);
  let ok = g.And(g.And(g.GreaterOrEqual(p, zero), g.Less(p, cap1)), g.Less(read, g.scalar(MASKED, dt)));
  if (rowCut) ok = g.And(ok, g.GreaterOrEqual(rowCut, read));
  return { t, ok, below, above, plan };
}
