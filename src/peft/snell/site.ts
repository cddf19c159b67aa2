/**
 * @file SNELL's default site (piecewise kernel, hard threshold, build-time sparsity) as one CustomGrad
 * op with a hand-written backward, for memory and time. The update is built transposed,
 * dW^T = K(B, A) [nOut, nIn], the layout of the frozen weight W, so that with the frozen layer folded
 * in the site is one product, y = x (W + dW^T)^T + b, instead of x W^T + b + x dW (one GEMM fewer
 * in the forward and one fewer in the backward). The backward recomputes dW^T from the factors after
 * the gradient exists and differentiates the kernel one group at a time, so no [P, nOut, nIn]
 * tensor exists and at most about four [nOut, nIn] ones are alive together (the autodiff +
 * rematerialisation path held the distances, their square roots, K, the mask and dW: about ten).
 */
import type { GraphBuilder } from "../../ir/builder.js";
import type { Value } from "../../ir/value.js";
import type { FrozenLinear } from "../method.js";
import { SQRT_EPS, defaultC } from "./kernel.js";
import { thresholdOf } from "./threshold-graph.js";

export interface FusedSiteInputs {
  /** Site input rows [M, nIn] (after dropout, when there is any). */
  x: Value;
  /** Factors [P, nIn, h] and [P, nOut, h], h > 1. */
  A: Value;
  B: Value;
  /** Learnable c [P]; absent: the authors' fixed (+0.1, -0.1, ...). */
  c?: Value;
  /** Sparsity in (0, 1), fixed at build time. */
  sparsity: number;
  /** Sort whole matrices for the threshold (see threshold-graph.ts). */
  exactThreshold?: boolean;
  /** The frozen layer (the site's W [nOut, nIn] and bias are `rows` of it) to fold in; absent: the op returns x dW alone. */
  frozen?: FrozenLinear;
  /** The value the forward waits for (the site input), so that ORT does not run every site's kernel first. */
  after: Value;
}

export interface FusedSiteResult {
  /** x (W + dW^T)^T + b with `frozen`, else x dW: [M, nOut]. */
  out: Value;
  /** Scalar bool: the threshold's sample bracket held. */
  ok: Value;
}

/** Whether a site can take the fused op: the shapes it handles (others use the autodiff path). */
export function fusedSiteApplies(x: Value, A: Value): boolean {
  return x.rank === 2 && A.rank === 3 && A.shape[2]! > 1;
}

/**
 * `v + 0 * token[0, ...]`: the same numbers, available only once `token` is (used on values cut from
 * the gradient). Three nodes; the site emits a few dozen of these and node count costs session memory.
 */
function after(g: GraphBuilder, v: Value, token: Value): Value {
  const axes = Array.from({ length: token.rank }, (_, i) => i);
  const first = g.Slice(token, axes.map(() => 0), axes.map(() => 1), axes);
  return g.Add(v, g.Mul(token.dtype === v.dtype ? first : g.Cast(first, v.dtype), g.scalar(0, v.dtype)));
}

/**
 * Augmented factors of all groups, X = [B, |B|^2, 1] [P, nOut, h+2] and Y = [-2A, 1, |A|^2]
 * [P, nIn, h+2], so that X_p Y_p^T = |b|^2 + |a|^2 - 2 b.a (kernel.ts's squaredDistances, built once
 * per site: they are small, so the backward keeps them instead of rebuilding them).
 */
function augmented(g: GraphBuilder, A: Value, B: Value): { X: Value; Y: Value } {
  const [P, nIn] = A.shape as [number, number, number];
  const nOut = B.shape[1]!;
  const one = (n: number) => g.Expand(g.scalar(1, A.dtype), [P, n, 1]);
  const sq = (F: Value) => g.ReduceSum(g.Mul(F, F), [2], 1);
  return {
    X: g.Concat([B, sq(B), one(nOut)], 2),
    Y: g.Concat([g.Mul(A, g.scalar(-2, A.dtype)), one(nIn), sq(A)], 2),
  };
}

/** Group p of a [P, n, k] tensor as [n, k]. */
const group = (g: GraphBuilder, F: Value, p: number) => g.Reshape(g.Slice(F, [p], [p + 1], [0]), F.shape.slice(1));

/**
 * Squared distances r [nOut, nIn] of group p and D = sqrt(|r| + eps) (kernel.ts's distances()), once
 * `token` exists. The forward and the backward run the same ops on the same numbers, so the
 * backward's mask is bit-identical to the forward's.
 */
function groupDistances(g: GraphBuilder, X: Value, Y: Value, p: number, token: Value | null): { r: Value; D: Value } {
  const Xp = group(g, X, p);
  const r = g.Gemm(token ? after(g, Xp, token) : Xp, group(g, Y, p), null, { transB: 1 });
  return { r, D: g.Sqrt(g.Add(g.Abs(r), g.scalar(SQRT_EPS, r.dtype))) };
}

const cOf = (g: GraphBuilder, c: Value, p: number) => g.Reshape(g.Slice(c, [p], [p + 1], [0]), []);

/**
 * K(B, A) = sum_p c_p ||B_p,j - A_p,i|| [nOut, nIn], one group at a time: each group waits for the
 * running sum, so its distances are added in before the next group's exist.
 */
function kernelT(g: GraphBuilder, X: Value, Y: Value, c: Value, P: number, token: Value | null): Value {
  let K: Value | null = null;
  for (let p = 0; p < P; p++) {
    const term = g.Mul(groupDistances(g, X, Y, p, K ?? token).D, cOf(g, c, p));
    K = K ? g.Add(K, term) : term;
  }
  return K!;
}

/** dW^T and its hard-threshold multiplier |K| [|K| > t] (cut from the gradient by construction). */
function sparseT(g: GraphBuilder, K: Value, t: Value): { dWT: Value; mult: Value } {
  const mag = g.Abs(K);
  const mult = g.Mul(mag, g.Cast(g.Greater(mag, t), K.dtype));
  return { dWT: g.Mul(K, mult), mult };
}

/**
 * The site's rows of a frozen tensor: a Slice in the forward, a Gather in the backward. Two different
 * ops, so that ORT's common-subexpression elimination cannot merge them and keep the forward's copy
 * (a [nOut, nIn] third of qkv per site) alive until the backward.
 */
function rowsOf(g: GraphBuilder, v: Value, [lo, hi]: readonly [number, number], backward: boolean): Value {
  if (lo === 0 && hi === v.shape[0]) return v;
  return backward ? g.Gather(v, g.Range(lo, hi), 0) : g.Slice(v, [lo], [hi], [0]);
}

/** A gradient of the site's rows, placed in the whole tensor's shape (zeros elsewhere). */
function toWhole(g: GraphBuilder, d: Value, whole: Value, [lo, hi]: readonly [number, number]): Value {
  const n = whole.shape[0]!;
  if (lo === 0 && hi === n) return d;
  const rest = d.shape.slice(1);
  const parts = [lo > 0 ? g.zeros([lo, ...rest], d.dtype) : null, d, hi < n ? g.zeros([n - hi, ...rest], d.dtype) : null];
  return g.Concat(parts.filter((p): p is Value => p !== null), 0);
}

/**
 * The fused site. Forward: K(B, A), t = quantile(|K|, s) (exact, threshold-graph.ts), dW^T = K |K| [|K| > t],
 * then the product. Backward (d = dy):
 * - dx = d (W + dW^T) (folded) or d dW^T; dW^T's gradient G = d^T x; dW, db as a frozen layer's when trained;
 * - dK = G * |K| [|K| > t] (the multiplier is cut from the gradient, as the authors' stopgrad);
 * - per group, with r = d2 the squared distances and D = sqrt(|r| + eps):
 *   dr = dK c_p sign(r) / (2 D); d2 = |b|^2 + |a|^2 - 2 b.a gives
 *   dB_p = 2 (rowsum(dr) * B_p - dr A_p), dA_p = 2 (colsum(dr) * A_p - dr^T B_p); dc_p = sum(dK * D).
 */
export function fusedSite(g: GraphBuilder, inp: FusedSiteInputs): FusedSiteResult {
  const { A, B, sparsity, frozen } = inp;
  const [P, nIn, h] = A.shape as [number, number, number];
  const nOut = B.shape[1]!;
  const dt = A.dtype;
  const cValue = () => inp.c ?? g.constant(defaultC(P), [P], dt);
  let t: Value | null = null;
  let ok: Value | null = null;
  let aug: { X: Value; Y: Value } | null = null;

  const xs = [inp.x, A, B, ...(inp.c ? [inp.c] : []), ...(frozen ? [frozen.weight, ...(frozen.bias ? [frozen.bias] : [])] : [])];
  const rows = frozen?.rows ?? [0, nOut];
  const out = g.customVjp(
    xs,
    (g, [x, a, b, ...rest]) => {
      const c = inp.c ? rest[0]! : cValue();
      aug = augmented(g, a!, b!);
      const K = kernelT(g, aug.X, aug.Y, c, P, inp.after);
      const th = thresholdOf(g, g.Abs(K), sparsity, { exact: inp.exactThreshold });
      t = th.t;
      ok = th.ok;
      const { dWT } = sparseT(g, K, t);
      if (!frozen) return g.Gemm(x!, dWT, null, { transB: 1 });
      const w = rowsOf(g, rest[inp.c ? 1 : 0]!, rows, false);
      const bias = frozen.bias ? rowsOf(g, rest[inp.c ? 2 : 1]!, rows, false) : null;
      return g.Gemm(x!, g.Add(w, dWT), bias, { transB: 1 });
    },
    (g, [x, a, b, ...rest], _y, dy) => {
      const c = inp.c ? rest[0]! : cValue();
      const w = frozen ? rowsOf(g, rest[inp.c ? 1 : 0]!, rows, true) : null;
      // Recomputed after dy exists (and cut from the forward copy, which ORT would otherwise merge).
      const { X, Y } = aug!;
      const K = kernelT(g, X, Y, c, P, dy);
      const { dWT, mult } = sparseT(g, K, t!);
      const dx = g.MatMul(dy, w ? g.Add(w, dWT) : dWT);
      const G = g.Gemm(dy, x!, null, { transA: 1 }); // [nOut, nIn]
      const dK = g.Mul(G, mult);
      const dA: Value[] = [], dB: Value[] = [], dc: Value[] = [];
      const two = g.scalar(2, dt);
      let token = dK;
      for (let p = 0; p < P; p++) {
        // Each group waits for the previous group's gradient, so only one group's tensors are alive.
        const { r, D } = groupDistances(g, X, Y, p, token);
        const Ap = group(g, a!, p), Bp = group(g, b!, p);
        const dr = g.Mul(g.Div(g.Mul(dK, g.Mul(cOf(g, c, p), g.scalar(0.5, dt))), D), g.Sign(r));
        if (inp.c) dc.push(g.ReduceSum(g.Mul(dK, D), [0, 1], 1));
        dB.push(g.Mul(g.Sub(g.Mul(g.ReduceSum(dr, [1], 1), Bp), g.MatMul(dr, Ap)), two));
        dA.push(g.Mul(g.Sub(g.Mul(g.Transpose(g.ReduceSum(dr, [0], 1), [1, 0]), Ap), g.Gemm(dr, Bp, null, { transA: 1 })), two));
        token = dA[p]!;
      }
      const stack = (parts: Value[], n: number) => g.Reshape(g.Concat(parts, 0), [P, n, h]);
      const grads: (Value | null)[] = [dx, stack(dA, nIn), stack(dB, nOut)];
      if (inp.c) grads.push(g.Reshape(g.Concat(dc, 0), [P]));
      if (frozen) {
        // The frozen layer's own gradients, pruned from the graph unless it is trained.
        grads.push(toWhole(g, G, frozen.weight, rows));
        if (frozen.bias) grads.push(toWhole(g, g.ReduceSum(dy, [0], 0), frozen.bias, rows));
      }
      return grads;
    },
  );
  return { out, ok: ok! };
}

