/** @file Neural-network ops: Softmax, LogSoftmax, LayerNormalization, with gradients (Conv: conv.ts). */
import { defineOp } from "../op.js";
import { fmt, normAxis } from "../shape.js";
import type { Value } from "../value.js";

const softmaxInfer = defineOp("", {
  infer: ({ x: [x], attrs, fail }) => {
    normAxis((attrs.axis as number | undefined) ?? -1, x!.rank) ?? fail(`axis ${attrs.axis} out of range`);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  },
  vjp: "never",
}).infer;

const axisOf = (attrs: Record<string, unknown>, x: Value) => normAxis((attrs.axis as number | undefined) ?? -1, x.rank)!;

export const nn = {
  // d softmax = y * (dy - sum(dy*y)); uses the output only, so the input need not stay alive
  Softmax: defineOp("Softmax", {
    infer: softmaxInfer,
    vjp: ({ g, dy: [dy], y: [y], attrs, x: [x] }) => {
      const axis = axisOf(attrs, x!);
      return [g.Mul(y!, g.Sub(dy!, g.ReduceSum(g.Mul(dy!, y!), [axis], 1)))];
    },
  }),
  // d logsoftmax = dy - exp(y) * sum(dy)
  LogSoftmax: defineOp("LogSoftmax", {
    infer: softmaxInfer,
    vjp: ({ g, dy: [dy], y: [y], attrs, x: [x] }) => {
      const axis = axisOf(attrs, x!);
      return [g.Sub(dy!, g.Mul(g.Exp(y!), g.ReduceSum(dy!, [axis], 1)))];
    },
  }),
  // xh = (x - mean) * rstd;  dx = rstd * (dxh - mean(dxh) - xh * mean(dxh * xh)), dxh = dy * scale;
  // dscale = sum(dy * xh), dbias = sum(dy) over the non-normalised axes. Mean and rstd come from the
  // node's optional outputs, so backward does not recompute them.
  LayerNormalization: defineOp("LayerNormalization", {
    floatAttrs: ["epsilon"],
    infer: ({ x: [x, scale, bias], attrs, fail }) => {
      const axis = normAxis((attrs.axis as number | undefined) ?? -1, x!.rank) ?? fail("axis out of range");
      const norm = x!.shape.slice(axis);
      if (scale!.shape.join() !== norm.join()) fail(`scale ${fmt(scale!.shape)} must be ${fmt(norm)}`);
      if (bias && bias.shape.join() !== norm.join()) fail(`bias ${fmt(bias.shape)} must be ${fmt(norm)}`);
      const stat = x!.shape.map((d, i) => (i < axis ? d : 1));
      return [{ shape: x!.shape, dtype: x!.dtype }, { shape: stat, dtype: x!.dtype }, { shape: stat, dtype: x!.dtype }];
    },
    vjp: ({ g, dy: [dy], x: [x, scale, bias], y: [, mean, rstd], attrs, needs }) => {
      const axis = normAxis((attrs.axis as number | undefined) ?? -1, x!.rank)!;
      const normAxes = x!.shape.map((_, i) => i).filter((i) => i >= axis);
      const outer = x!.shape.map((_, i) => i).filter((i) => i < axis);
      const xh = g.Mul(g.Sub(x!, mean!), rstd!);
      let dx: Value | null = null;
      if (needs[0]) {
        const dxh = g.Mul(dy!, scale!);
        const m1 = g.ReduceMean(dxh, normAxes, 1);
        const m2 = g.ReduceMean(g.Mul(dxh, xh), normAxes, 1);
        dx = g.Mul(rstd!, g.Sub(g.Sub(dxh, m1), g.Mul(xh, m2)));
      }
      const dscale = needs[1] ? g.ReduceSum(g.Mul(dy!, xh), outer, 0) : null;
      const dbias = bias && needs[2] ? g.ReduceSum(dy!, outer, 0) : null;
      return bias ? [dx, dscale, dbias] : [dx, dscale];
    },
  }),
};
