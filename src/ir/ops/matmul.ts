/** @file MatMul and Gemm with their gradients. */
import { GradError } from "../../errors.js";
import type { GraphBuilder } from "../builder.js";
import { defineOp, type OutSpec } from "../op.js";
import { broadcastShapes, fmt } from "../shape.js";
import type { Value } from "../value.js";

/** Swaps the last two axes. */
function mT(g: GraphBuilder, x: Value): Value {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1]!, perm[x.rank - 2]!];
  return g.Transpose(x, perm);
}

/** Collapses leading axes: [..., k] -> [prod, k]. */
function rows(g: GraphBuilder, x: Value): Value {
  const k = x.shape[x.rank - 1]!;
  return x.rank === 2 ? x : g.Reshape(x, [-1, k]);
}

export const matmul = {
  // d(A@B) = (dY @ B^T, A^T @ dY). A weight of rank 2 shared across a batch gets one flat matmul
  // ([rows, k]^T @ [rows, n]) instead of a batched product summed afterwards.
  MatMul: defineOp("MatMul", {
    infer: ({ x: [a, b], fail }): OutSpec[] => {
      if (a!.dtype !== b!.dtype) fail(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`);
      if (a!.rank < 1 || b!.rank < 1) fail("inputs must have rank >= 1");
      const as = a!.rank === 1 ? [1, ...a!.shape] : a!.shape;
      const bs = b!.rank === 1 ? [...b!.shape, 1] : b!.shape;
      const k1 = as[as.length - 1]!, k2 = bs[bs.length - 2]!;
      if (k1 !== k2) fail(`inner dimensions differ: ${fmt(a!.shape)} @ ${fmt(b!.shape)} (${k1} vs ${k2})`);
      const batch = broadcastShapes(as.slice(0, -2), bs.slice(0, -2));
      if (!batch) fail(`batch dimensions do not broadcast: ${fmt(a!.shape)} @ ${fmt(b!.shape)}`);
      const shape = [...batch!, ...(a!.rank === 1 ? [] : [as[as.length - 2]!]), ...(b!.rank === 1 ? [] : [bs[bs.length - 1]!])];
      return [{ shape, dtype: a!.dtype }];
    },
    vjp: ({ g, node, dy: [dy], x: [a, b], needs }) => {
      if (a!.rank < 2 || b!.rank < 2) throw new GradError(`MatMul node "${node.name}": gradient needs inputs of rank >= 2`);
      const da = needs[0] ? g.MatMul(dy!, mT(g, b!)) : null;
      let db: Value | null = null;
      if (needs[1]) {
        db = b!.rank === 2 && a!.rank > 2 ? g.MatMul(g.Transpose(rows(g, a!), [1, 0]), rows(g, dy!)) : g.MatMul(mT(g, a!), dy!);
      }
      return [da, db];
    },
  }),
  // Y = alpha * op(A) @ op(B) + beta * C
  Gemm: defineOp("Gemm", {
    floatAttrs: ["alpha", "beta"],
    infer: ({ x: [a, b, c], attrs, fail }) => {
      if (a!.rank !== 2 || b!.rank !== 2) fail("A and B must be 2-D");
      const [m, k1] = attrs.transA ? [a!.shape[1]!, a!.shape[0]!] : [a!.shape[0]!, a!.shape[1]!];
      const [k2, n] = attrs.transB ? [b!.shape[1]!, b!.shape[0]!] : [b!.shape[0]!, b!.shape[1]!];
      if (k1 !== k2) fail(`inner dimensions differ (${k1} vs ${k2})`);
      if (c && !broadcastShapes(c.shape, [m, n])?.every((d, i) => d === [m, n][i])) fail(`C ${fmt(c.shape)} does not broadcast to [${m}, ${n}]`);
      return [{ shape: [m, n], dtype: a!.dtype }];
    },
    vjp: ({ g, dy: [dy], x: [a, b, c], attrs, needs }) => {
      const alpha = (attrs.alpha as number | undefined) ?? 1, beta = (attrs.beta as number | undefined) ?? 1;
      const s = (v: Value, k: number) => (k === 1 ? v : g.Mul(v, g.scalar(k, v.dtype)));
      const tA = attrs.transA ? 1 : 0, tB = attrs.transB ? 1 : 0;
      // dA = alpha dY op(B)^T (transposed back when A was); dB likewise.
      const da = needs[0] ? s(tA ? g.Gemm(b!, dy!, null, { transA: tB, transB: 1 }) : g.Gemm(dy!, b!, null, { transB: tB ? 0 : 1 }), alpha) : null;
      const db = needs[1] ? s(tB ? g.Gemm(dy!, a!, null, { transA: 1, transB: tA }) : g.Gemm(a!, dy!, null, { transA: tA ? 0 : 1 }), alpha) : null;
      const dc = c && needs[2] ? s(dy!, beta) : null;
      return c ? [da, db, dc] : [da, db];
    },
  }),
};
