/**
 * @file SNELL's fold over an int8 frozen layer: each step, in the graph, Wm = dequant(W0q) + dW (float32,
 * O(nOut nIn) elementwise). The forward is one float32 product x Wm^T (default) or, with
 * `int8Fold.int8Forward`, Wm requantized per output channel (s' = max|Wm[n, :]| / 127, round) through
 * int8MatMul; dX always runs through the requantized Wm in int8. The float32 fold (site.ts) replaces
 * x W0^T by x (W0 + dW^T)^T; without a fold, an int8 site adds a float32 x dW product of the same size
 * to the int8 one in the forward and dY dW^T in the backward (ViT-B SNELL-8 step 1.12x float32's).
 * The gradient reaching dW stays the float32 dY^T x (straight-through through the requantization).
 * Why the forward stays float32 by default (bench/README.md, int8 section): requantizing Wm puts dW on
 * W0's grid, where its small entries round away; the reduced-ViT 50-step loss curve then drifts 2.0%
 * (mean relative gap) from float32's, against 0.11% with this forward, at the same ViT-B step time.
 */
import type { GraphBuilder } from "../../ir/builder.js";
import { int8MatMul, type Int8Weight } from "../../ir/int8-matmul.js";
import type { Value } from "../../ir/value.js";

/**
 * How a SNELL / SNELLA site without dropout or drop-path runs over an int8 frozen layer under the
 * current `int8Fold` (run.json's behaviour.semantics); with dropout or drop-path it is always x W0q in
 * int8 plus x dW in float32.
 *
 * @example
 * snellInt8Site(); // "fold: Wm = dequant(W0q) + dW each step; forward x Wm^T in float32; ..."
 */
export function snellInt8Site(): string {
  if (!int8Fold.enabled) return "int8-plus-fp32-delta: x W0q in int8 plus x dW in float32";
  const fwd = int8Fold.int8Forward ? "int8MatMul(x, q(Wm))" : "x Wm^T in float32";
  return `fold: Wm = dequant(W0q) + dW each step; forward ${fwd}; dX int8MatMul(dY s', q(Wm)) with q per output channel; dW's gradient dY^T x in float32 (straight-through)`;
}

/**
 * Whether SNELL's fused site folds dW into an int8 frozen layer (default) or adds a float32 product,
 * and whether the fold's forward is requantized too (off by default: see the file comment). Mutable for benches and tests.
 */
export const int8Fold = { enabled: true, int8Forward: false };

/**
 * An int64 zero that exists only once `v` does: added to a Gather's indices, it holds the int8 weight's
 * dequantization until the site's dW exists (ORT orders by data dependencies only, and would otherwise
 * dequantize every site's W0 at the start of the graph, all float32 copies alive at once).
 * Greater(f, f) is false for every f, NaN included.
 */
function zeroAfter(g: GraphBuilder, v: Value): Value {
  const f = g.Slice(g.Reshape(v, [-1]), [0], [1], [0]);
  return g.Cast(g.Greater(f, f), "int64");
}

/**
 * Wm^T rows [lo, hi) of the site, requantized: qT int8 [hi - lo, nIn] (W's own [out, in] layout, which
 * is the [K, N] that the backward's dX product takes) and s [hi - lo], Wm^T ≈ qT diag(s) row-wise.
 * `dWT` [hi - lo, nIn] is the update's rows; `w` the whole frozen weight (q [nIn, N], scale [N]).
 *
 * @example
 * const { qT, s } = requantizedRows(g, frozen.int8, [0, nOut], dWT); // then foldForward(g, x, qT, s, bias)
 */
export function requantizedRows(g: GraphBuilder, w: Int8Weight, rows: readonly [number, number], dWT: Value): { qT: Value; s: Value } {
  const wm = foldedRows(g, w, rows, dWT);
  const s = g.Div(g.Max(g.ReduceMax(g.Abs(wm), [1], 0), g.scalar(1e-30)), g.scalar(127));
  const qT = g.QuantizeLinear(wm, s, g.Expand(g.scalar(0, "int8"), [rows[1] - rows[0]]), 0);
  return { qT, s };
}

/**
 * Wm^T rows [lo, hi) in float32: dequant(W0q) rows + dWT, computed once dWT exists.
 *
 * @example
 * const y = g.Gemm(x, foldedRows(g, frozen.int8, [0, nOut], dWT), bias, { transB: 1 });
 */
export function foldedRows(g: GraphBuilder, w: Int8Weight, [lo, hi]: readonly [number, number], dWT: Value): Value {
  const [nIn, N] = w.q.shape as [number, number];
  // A gated Gather of all rows (a row-wise copy of int8), then a Slice of the site's columns. Gathering
  // the columns directly (axis 1) ran element by element: 1.9 s of a 15 s ViT-B SNELL-8 step. The forward's
  // and the backward's calls differ in their gate, so they are never the same subexpression.
  const all = g.Gather(w.q, g.Add(g.Range(0, nIn), zeroAfter(g, dWT)), 0);
  const q = lo === 0 && hi === N ? all : g.Slice(all, [lo], [hi], [1]); // int8 [nIn, rows]
  const s0 = lo === 0 && hi === N ? w.scale : g.Slice(w.scale, [lo], [hi], [0]);
  return g.Add(g.Mul(g.Cast(g.Transpose(q, [1, 0]), "float32"), g.Unsqueeze(s0, [1])), dWT);
}

/**
 * y = x Wm^T + b with Wm^T ≈ qT diag(s): int8MatMul(x, qT^T) * s (+ b). The transpose is of int8 values.
 *
 * @example
 * const y = foldForward(g, x, qT, s, bias); // [M, nOut]
 */
export function foldForward(g: GraphBuilder, x: Value, qT: Value, s: Value, bias: Value | null): Value {
  const y = g.Mul(int8MatMul(g, x, g.Transpose(qT, [1, 0])), s);
  return bias ? g.Add(y, bias) : y;
}

/**
 * dx = dy Wm (straight-through): s varies along this product's contraction, so it is folded into dy
 * first, int8MatMul(dy * s, qT) [M, nIn] (as int8Linear's backward).
 *
 * @example
 * const dx = foldDx(g, dy, qT, s);
 */
export function foldDx(g: GraphBuilder, dy: Value, qT: Value, s: Value): Value {
  return int8MatMul(g, g.Mul(dy, s), qT);
}
