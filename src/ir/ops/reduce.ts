/** @file Reductions (ReduceSum/Mean/Max/Min, ArgMax) with their gradients. */
import type { GraphBuilder } from "../builder.js";
import { defineOp, type InferContext, type OutSpec, type VjpFn } from "../op.js";
import { normAxis } from "../shape.js";
import type { Value } from "../value.js";

/** Axes of a reduction: ReduceSum takes them as a constant input (opset 13), the others as an attribute. */
function axesOf(ctx: { x: readonly (Value | null)[]; attrs: InferContext["attrs"] }, x: Value, fail: (m: string) => never): number[] {
  const raw = (ctx.x[1]?.constValue ?? (ctx.attrs.axes as readonly number[] | undefined)) ?? x.shape.map((_, i) => i);
  if (ctx.x[1] && !ctx.x[1].constValue) fail("axes must be a constant");
  return raw.map((a) => normAxis(a, x.rank) ?? fail(`axis ${a} out of range for rank ${x.rank}`)).sort((p, q) => p - q);
}

function inferReduce(ctx: InferContext): OutSpec[] {
  const x = ctx.x[0]!;
  const axes = axesOf(ctx, x, ctx.fail);
  const keep = (ctx.attrs.keepdims ?? 1) !== 0;
  const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  return [{ shape, dtype: x.dtype }];
}

/** dy reshaped to keepdims form, so it broadcasts against x. */
function keepShape(g: GraphBuilder, dy: Value, x: Value, axes: number[]): Value {
  const shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return dy.rank === shape.length ? dy : g.Reshape(dy, shape);
}

const reduceVjp = (kind: "sum" | "mean" | "extreme"): VjpFn => ({ g, node, dy: [dy], x: [x], y: [y] }) => {
  const axes = axesOf({ x: node.inputs, attrs: node.attrs }, x!, (m) => { throw new Error(m); });
  const d = keepShape(g, dy!, x!, axes);
  if (kind === "sum") return [g.Expand(d, x!.shape), null];
  if (kind === "mean") {
    const count = axes.reduce((n, a) => n * x!.shape[a]!, 1);
    return [g.Expand(g.Div(d, g.scalar(count, x!.dtype)), x!.shape)];
  }
  // d max: dy shared equally among the tied maxima (torch.amax's rule)
  const mask = g.Cast(g.Equal(x!, keepShape(g, y!, x!, axes)), x!.dtype);
  const ties = g.ReduceSum(mask, axes, 1);
  return [g.Mul(mask, g.Div(d, ties))];
};

export const reduce = {
  // d sum = dy broadcast back over the reduced axes
  ReduceSum: defineOp("ReduceSum", { infer: inferReduce, vjp: reduceVjp("sum") }),
  // d mean = dy / count, broadcast back
  ReduceMean: defineOp("ReduceMean", { infer: inferReduce, vjp: reduceVjp("mean") }),
  ReduceMax: defineOp("ReduceMax", { infer: inferReduce, vjp: reduceVjp("extreme") }),
  ReduceMin: defineOp("ReduceMin", { infer: inferReduce, vjp: reduceVjp("extreme") }),
  ArgMax: defineOp("ArgMax", {
    infer: ({ x: [x], attrs, fail }) => {
      const axis = normAxis((attrs.axis as number | undefined) ?? 0, x!.rank) ?? fail(`axis out of range`);
      const keep = (attrs.keepdims ?? 1) !== 0;
      const shape = keep ? x!.shape.map((d, i) => (i === axis ? 1 : d)) : x!.shape.filter((_, i) => i !== axis);
      return [{ shape, dtype: "int64" }];
    },
    vjp: "none",
  }),
};
