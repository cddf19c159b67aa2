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
import { foldDx, foldForward, foldedRows, int8Fold, requantizedRows } from "./int8-fold.js";

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
  /**
   * The frozen layer (the site's W [nOut, nIn] and bias are `rows` of it) to fold in; absent: the op returns x dW alone.
   * An int8 one (`frozen.int8`): dequant(W0q) + dW^T each step, dx through it requantized (int8-fold.ts).
   */
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
 * Augmented factors of each group as 2-D values, X_p = [B_p, |B_p|^2, 1] [nOut, h+2] and
 * Y_p = [-2A_p, 1, |A_p|^2] [nIn, h+2], so that X_p Y_p^T = |b|^2 + |a|^2 - 2 b.a (kernel.ts's
 * squaredDistances), built once per site: they are small, so the backward keeps them instead of
 * rebuilding them, and it differentiates through them (dX_p = dr Y_p, dY_p = dr^T X_p).
 */
function augmented(g: GraphBuilder, A: Value, B: Value): { X: Value[]; Y: Value[] } {
  const [P, nIn, h] = A.shape as [number, number, number];
  const nOut = B.shape[1]!;
  const rows = (F: Value, n: number) => g.Reshape(F, [P * n, h]);
  const one = (n: number) => g.Expand(g.scalar(1, A.dtype), [P * n, 1]);
  const sq = (F: Value) => g.ReduceSum(g.Mul(F, F), [1], 1);
  const A2 = rows(A, nIn), B2 = rows(B, nOut);
  const X = g.Concat([B2, sq(B2), one(nOut)], 1);
  const Y = g.Concat([g.Mul(A2, g.scalar(-2, A.dtype)), one(nIn), sq(A2)], 1);
  const groups = (F: Value, n: number) => (P === 1 ? [F] : g.Split(F, new Array<number>(P).fill(n), 0));
  return { X: groups(X, nOut), Y: groups(Y, nIn) };
}

/**
 * Squared distances r [nOut, nIn] of one group and D = sqrt(|r| + eps) (kernel.ts's distances()).
 * `wait`, an [nOut, nIn] (or broadcastable) value, is the Gemm's C with beta = 0: read, never added
 * (ORT's Gemm skips C when beta is 0), so the product runs only once `wait` exists, at no extra node.
 * The forward and the backward run the same ops on the same numbers, so the backward's mask is
 * bit-identical to the forward's.
 */
function groupDistances(g: GraphBuilder, Xp: Value, Yp: Value, wait: Value | null): { r: Value; D: Value } {
  const r = g.Gemm(Xp, Yp, wait, wait ? { transB: 1, beta: 0 } : { transB: 1 });
  return { r, D: g.Sqrt(g.Add(g.Abs(r), g.scalar(SQRT_EPS, r.dtype))) };
}

/**
 * K(B, A) = sum_p c_p ||B_p,j - A_p,i|| [nOut, nIn], one group at a time: each group waits for the
 * running sum, so its distances are added in before the next group's exist.
 */
function kernelT(g: GraphBuilder, X: readonly Value[], Y: readonly Value[], c: readonly Value[], wait: Value | null): Value {
  let K: Value | null = null;
  for (let p = 0; p < X.length; p++) {
    const term = g.Mul(groupDistances(g, X[p]!, Y[p]!, K ?? wait).D, c[p]!);
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
 * Row blocks of the backward (over nOut): sites of at least `blockFrom` entries recompute and
 * differentiate dW^T in row blocks of about `blockSize` entries, one block at a time, so that their
 * [nOut, nIn] temporaries (K, the multiplier, dW^T, W + dW^T, G, dK, a group's distances) exist a
 * block at a time, at the activations' high-water mark (the start of the backward). Smaller sites
 * stay whole: each block adds nodes, and ORT's session grows by about 5 KB a node. The forward
 * stays whole: its product in row blocks (each recomputing its rows of K after t) measured worse on
 * ConvNeXt-B (peak RSS +13% to +15% over LoRA-8). Mutable for tests.
 */
export const siteBlocking = { blockFrom: 2 ** 21, blockSize: 2 ** 20 };

function rowBlocks(nIn: number, nOut: number): [number, number][] {
  const n = nIn * nOut < siteBlocking.blockFrom ? 1 : Math.min(nOut, Math.ceil((nIn * nOut) / siteBlocking.blockSize));
  const step = Math.ceil(nOut / n);
  const out: [number, number][] = [];
  for (let r0 = 0; r0 < nOut; r0 += step) out.push([r0, Math.min(nOut, r0 + step)]);
  return out;
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
 * - per group, with r = X_p Y_p^T the squared distances and D = sqrt(|r| + eps):
 *   dr = (c_p / 2) dr', dr' = dK sign(r) / D; dX_p = dr Y_p, dY_p = dr^T X_p (the scale c_p / 2 is
 *   applied to these small products, not to a matrix); dc_p = sum(dK * D);
 * - through the augmentation: dB = dX[:, :h] + 2 B dX[:, h], dA = 2 (A dY[:, h+1] - dY[:, :h]).
 * 97 builder nodes a site besides the threshold's (164 before; ViT: 72 sites), and ORT's session memory grows
 * by about 5 KB a node.
 */
export function fusedSite(g: GraphBuilder, inp: FusedSiteInputs): FusedSiteResult {
  const { A, B, sparsity, frozen } = inp;
  const [P, nIn, h] = A.shape as [number, number, number];
  const nOut = B.shape[1]!;
  const dt = A.dtype;
  let t: Value | null = null;
  let ok: Value | null = null;
  let aug: { X: Value[]; Y: Value[] } | null = null;
  let cs: Value[] | null = null;

  // An int8 frozen weight (frozen.int8) is not an input of the op: it has no gradient.
  const fw = frozen?.weight ?? null, q8 = frozen?.int8;
  const xs = [inp.x, A, B, ...(inp.c ? [inp.c] : []), ...(fw ? [fw] : []), ...(frozen?.bias ? [frozen.bias] : [])];
  const at = { w: inp.c ? 1 : 0, b: (inp.c ? 1 : 0) + (fw ? 1 : 0) }; // positions in `rest`
  const rows = frozen?.rows ?? [0, nOut];
  const out = g.customVjp(
    xs,
    (g, [x, a, b, ...rest]) => {
      // c_p per group: shared scalar constants, or one Split of the learnable c (kept for the backward).
      cs = inp.c ? (P === 1 ? [rest[0]!] : g.Split(rest[0]!, new Array<number>(P).fill(1), 0)) : defaultC(P).map((v) => g.scalar(v, dt));
      aug = augmented(g, a!, b!);
      // The first product waits for the site input's first row, a [1, nIn] C.
      const K = kernelT(g, aug.X, aug.Y, cs, g.Slice(inp.after, [0], [1], [0]));
      const th = thresholdOf(g, g.Abs(K), sparsity, { exact: inp.exactThreshold });
      t = th.t;
      ok = th.ok;
      const { dWT } = sparseT(g, K, t);
      if (!frozen) return g.Gemm(x!, dWT, null, { transB: 1 });
      const bias = frozen.bias ? rowsOf(g, rest[at.b]!, rows, false) : null;
      if (q8 && !int8Fold.int8Forward) return g.Gemm(x!, foldedRows(g, q8, rows, dWT), bias, { transB: 1 });
      if (q8) {
        const { qT, s } = requantizedRows(g, q8, rows, dWT);
        return foldForward(g, x!, qT, s, bias);
      }
      const w = rowsOf(g, rest[at.w]!, rows, false);
      return g.Gemm(x!, g.Add(w, dWT), bias, { transB: 1 });
    },
    (g, [x, a, b, ...rest], _y, dy) => {
      const c = inp.c ? rest[0]! : null;
      const { X, Y } = aug!;
      const G: Value[] = [], dX: Value[][] = Array.from({ length: P }, () => []);
      const dY: (Value | null)[] = new Array<Value | null>(P).fill(null);
      const dc: Value[][] = Array.from({ length: P }, () => []);
      let dx: Value | null = null;
      // The first block's recompute waits for dy (its first row as an [nOut, 1] C), so it stays apart
      // from the forward copy, which ORT would otherwise merge with it and keep alive.
      let wait: Value = g.Reshape(g.Slice(dy, [0], [1], [0]), [nOut, 1]);
      for (const [r0, r1] of rowBlocks(nIn, nOut)) {
        const whole = r0 === 0 && r1 === nOut;
        const part = (v: Value, axis: number) => (whole ? v : g.Slice(v, [r0], [r1], [axis]));
        const Xb = X.map((Xp) => part(Xp, 0));
        const dyb = part(dy, 1);
        const gate = whole ? wait : g.Slice(wait, [0, 0], [1, 1], [0, 1]); // [1, 1] broadcasts to a block
        const K = kernelT(g, Xb, Y, cs!, gate);
        const { dWT, mult } = sparseT(g, K, t!);
        // G waits for the multiplier (a [1, nIn] row of it as the Gemm's C, beta 0), so it does not
        // exist during the recompute, and the groups wait for dx, so K, dW^T and W + dW^T are dead
        // before the groups' distances exist. ORT orders by data dependencies only; without these
        // gates these [nOut, nIn] temporaries overlapped.
        const Gb = g.Gemm(dyb, x!, g.Slice(mult, [0], [1], [0]), { transA: 1, beta: 0 }); // [rows, nIn]
        G.push(Gb);
        const dK = g.Mul(Gb, mult);
        if (q8) {
          // Straight-through: dx through the requantized rows (the forward's numbers: same ops, same dW^T rows).
          const { qT, s } = requantizedRows(g, q8, [rows[0] + r0, rows[0] + r1], dWT);
          const dxb = foldDx(g, dyb, qT, s);
          dx = dx ? g.Add(dx, dxb) : dxb;
        } else {
          const wb = fw ? rowsOf(g, rest[at.w]!, [rows[0] + r0, rows[0] + r1], true) : null;
          const op = wb ? g.Add(wb, dWT) : dWT;
          // Blocks accumulate dx in the Gemm's C (in place, and in order: each block waits for the last).
          dx = dx ? g.Gemm(dyb, op, dx) : g.MatMul(dyb, op);
        }
        wait = g.Slice(dx, [0], [1], [0]); // [1, nIn]
        for (let p = 0; p < P; p++) {
          // Each group waits for the previous group's products, so only one group's tensors are alive.
          const { r, D } = groupDistances(g, Xb[p]!, Y[p]!, wait);
          const dr = g.Mul(g.Div(dK, D), g.sign(r));
          if (c) dc[p]!.push(g.ReduceSum(g.Mul(dK, D), [0, 1], 1));
          dY[p] = g.Gemm(dr, Xb[p]!, dY[p] ?? null, { transA: 1 }); // [nIn, h+2], summed over the blocks
          dX[p]!.push(g.MatMul(dr, Y[p]!)); // [rows, h+2]
          wait = g.Slice(dX[p]!.at(-1)!, [0], [1], [1]); // [rows, 1]: broadcasts as a Gemm's C
        }
      }
      const cat = (vs: Value[]) => (vs.length === 1 ? vs[0]! : g.Concat(vs, 0));
      const sum = (vs: Value[]) => vs.reduce((acc, v) => g.Add(acc, v));
      // The true products are (c_p / 2) dX_p, (c_p / 2) dY_p; with the augmentation's factors folded in,
      // dB = dX'[:, :h] + B dX'[:, h] and dA = dY'[:, :h] + A dY'[:, h+1], where dX' and dY' scale the
      // columns by c_p [1/2 .. 1/2, 1, 0] and c_p [-1 .. -1, 0, 1] (one Mul each).
      const cols = (head: number, mid: number, tail: number) => [...new Array<number>(h).fill(head), mid, tail];
      const scale = (pattern: number[]) => c
        ? g.Mul(g.Reshape(c, [P, 1, 1]), g.constant(pattern, [1, 1, h + 2], dt))
        : g.constant(defaultC(P).flatMap((cp) => pattern.map((v) => cp * v)), [P, 1, h + 2], dt);
      const stack = (parts: Value[], n: number, pattern: number[]) =>
        g.Mul(g.Reshape(cat(parts), [P, n, h + 2]), scale(pattern));
      const [dXb, dXn] = g.Split(stack(dX.map(cat), nOut, cols(0.5, 1, 0)), [h, 1, 1], 2) as [Value, Value, Value];
      const [dYa, , dYn] = g.Split(stack(dY as Value[], nIn, cols(-1, 0, 1)), [h, 1, 1], 2) as [Value, Value, Value];
      const dB = g.Add(dXb, g.Mul(b!, dXn));
      const dA = g.Add(dYa, g.Mul(a!, dYn));
      const grads: (Value | null)[] = [dx!, dA, dB];
      if (c) grads.push(g.Reshape(cat(dc.map(sum)), [P]));
      // The frozen layer's own gradients, pruned from the graph unless it is trained.
      if (fw) grads.push(toWhole(g, cat(G), fw, rows));
      if (frozen?.bias) grads.push(toWhole(g, g.ReduceSum(dy, [0], 0), frozen.bias, rows));
      return grads;
    },
  );
  return { out, ok: ok! };
}
