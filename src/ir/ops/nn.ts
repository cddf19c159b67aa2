/** @file Neural-network ops: Softmax, LogSoftmax, LayerNormalization, Conv, with gradients. */
import { GradError } from "../../errors.js";
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
  // 2-D convolution, NCHW. Gradient for the patch-embedding case (stride = kernel, no padding,
  // no dilation, one group): there Conv is a reshape to patches and one matmul, and so is its gradient.
  Conv: defineOp("Conv", {
    infer: ({ x: [x, w, b], attrs, fail }) => {
      if (x!.rank !== 4 || w!.rank !== 4) fail("only 2-D convolution (NCHW input, OIHW weight) is supported");
      if ((attrs.group ?? 1) !== 1) fail("group must be 1");
      const [n, c, h, wd] = x!.shape as [number, number, number, number];
      const [o, ci, kh, kw] = w!.shape as [number, number, number, number];
      if (c !== ci) fail(`input has ${c} channels, weight expects ${ci}`);
      if (b && (b.rank !== 1 || b.shape[0] !== o)) fail(`bias must be [${o}]`);
      const [sh, sw] = (attrs.strides as number[] | undefined) ?? [1, 1];
      const p = (attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
      const oh = Math.floor((h + p[0]! + p[2]! - kh) / sh!) + 1;
      const ow = Math.floor((wd + p[1]! + p[3]! - kw) / sw!) + 1;
      if (oh < 1 || ow < 1) fail(`kernel ${kh}x${kw} larger than padded input ${h}x${wd}`);
      return [{ shape: [n, o, oh, ow], dtype: x!.dtype }];
    },
    vjp: ({ g, node, dy: [dy], x: [x, w, b], attrs, needs }) => {
      const [n, c, h, wd] = x!.shape as [number, number, number, number];
      const [o, , kh, kw] = w!.shape as [number, number, number, number];
      const strides = (attrs.strides as number[] | undefined) ?? [1, 1];
      const pads = (attrs.pads as number[] | undefined) ?? [0, 0, 0, 0];
      const dil = (attrs.dilations as number[] | undefined) ?? [1, 1];
      const patchLike = strides[0] === kh && strides[1] === kw && pads.every((v) => v === 0) && dil.every((v) => v === 1) && h % kh === 0 && wd % kw === 0;
      if (!patchLike) {
        throw new GradError(`Conv node "${node.name}": gradient is implemented for stride = kernel, no padding (patch embedding) only`);
      }
      const gh = h / kh, gw = wd / kw;
      // patches[n*gh*gw, c*kh*kw] and dyFlat[n*gh*gw, o]
      const patches = () => g.Reshape(g.Transpose(g.Reshape(x!, [n, c, gh, kh, gw, kw]), [0, 2, 4, 1, 3, 5]), [n * gh * gw, c * kh * kw]);
      const dyFlat = g.Reshape(g.Transpose(dy!, [0, 2, 3, 1]), [n * gh * gw, o]);
      let dx: Value | null = null;
      if (needs[0]) {
        const dp = g.MatMul(dyFlat, g.Reshape(w!, [o, c * kh * kw]));
        dx = g.Reshape(g.Transpose(g.Reshape(dp, [n, gh, gw, c, kh, kw]), [0, 3, 1, 4, 2, 5]), [n, c, h, wd]);
      }
      const dw = needs[1] ? g.Reshape(g.MatMul(g.Transpose(dyFlat, [1, 0]), patches()), w!.shape) : null;
      const db = b && needs[2] ? g.ReduceSum(dy!, [0, 2, 3], 0) : null;
      return b ? [dx, dw, db] : [dx, dw];
    },
  }),
};
