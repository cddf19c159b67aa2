/**
 * @file 2-D convolution (ONNX Conv, NCHW input, OIHW weight) with strides, pads, dilations and
 * groups: its shape rule and its gradient side by side.
 *
 * Forward, with xp the zero-padded input, G groups, Cg = C/G inputs and Og = O/G outputs per group:
 *   y[n,o,h,w] = b[o] + sum_{ci<Cg,i,j} xp[n, grp(o)*Cg+ci, h*s + i*d, w*s + j*d] * W[o,ci,i,j]
 * Gradients, each again one Conv (so ORT's convolution kernels, depthwise ones included, do the work):
 *   dx (stride 1): Conv(dy, W flipped in space and with in/out swapped per group, pads (k-1)d - p, group G)
 *   dx (stride = kernel, no pads, one group: patch embedding and downsampling): patches @ W, a MatMul
 *   dW: Conv of the input by dy, roles of stride and dilation swapped (see weightGrad)
 *   db: sum of dy over n, h, w
 */
import { GradError } from "../../errors.js";
import type { GraphBuilder } from "../builder.js";
import { defineOp, type OutSpec } from "../op.js";
import { fmt } from "../shape.js";
import type { Attrs, Value } from "../value.js";

/** Every Conv attribute, explicit (onnxruntime-web, for one, insists on `dilations`). */
export interface ConvAttrs {
  kernel_shape: [number, number];
  strides: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
  dilations: [number, number];
  group: number;
}

/** The attributes with ONNX's defaults filled in; `kernel_shape` from the weight. */
export function convAttrs(w: Value, attrs: Attrs): ConvAttrs {
  const pair = (v: unknown) => ((v as number[] | undefined) ?? [1, 1]) as [number, number];
  return {
    kernel_shape: ((attrs.kernel_shape as number[] | undefined) ?? w.shape.slice(2)) as [number, number],
    strides: pair(attrs.strides),
    pads: ((attrs.pads as number[] | undefined) ?? [0, 0, 0, 0]) as ConvAttrs["pads"],
    dilations: pair(attrs.dilations),
    group: (attrs.group as number | undefined) ?? 1,
  };
}

/** Output side: floor((in + padBefore + padAfter - d(k-1) - 1) / s) + 1. */
const outSide = (n: number, k: number, s: number, d: number, p0: number, p1: number) => Math.floor((n + p0 + p1 - d * (k - 1) - 1) / s) + 1;

function inferConv(x: Value, w: Value, b: Value | null, attrs: Attrs, fail: (m: string) => never): OutSpec[] {
  if (x.rank !== 4 || w.rank !== 4) fail("only 2-D convolution (NCHW input, OIHW weight) is supported");
  if (attrs.auto_pad !== undefined && attrs.auto_pad !== "NOTSET") fail("auto_pad is not supported; give pads");
  const a = convAttrs(w, attrs);
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  const ints = [...a.strides, ...a.dilations, a.group];
  if (!ints.every((v) => Number.isInteger(v) && v >= 1)) fail("strides, dilations and group must be positive integers");
  if (!a.pads.every((v) => Number.isInteger(v) && v >= 0)) fail(`pads ${fmt(a.pads)} must be non-negative integers`);
  if (a.kernel_shape[0] !== kh || a.kernel_shape[1] !== kw) fail(`kernel_shape ${fmt(a.kernel_shape)} differs from the weight's ${kh}x${kw}`);
  if (c % a.group !== 0 || o % a.group !== 0) fail(`group ${a.group} must divide input channels ${c} and output channels ${o}`);
  if (c / a.group !== cg) fail(`input has ${c} channels in ${a.group} group(s), weight expects ${cg} per group`);
  if (b && (b.rank !== 1 || b.shape[0] !== o)) fail(`bias must be [${o}]`);
  const oh = outSide(h, kh, a.strides[0], a.dilations[0], a.pads[0], a.pads[2]);
  const ow = outSide(wd, kw, a.strides[1], a.dilations[1], a.pads[1], a.pads[3]);
  if (oh < 1 || ow < 1) fail(`kernel ${kh}x${kw} (dilation ${fmt(a.dilations)}) larger than padded input ${h}x${wd}`);
  return [{ shape: [n, o, oh, ow], dtype: x.dtype }];
}

/** Reverses axes 2 and 3 (a Slice with step -1: ORT folds it when w is a frozen initializer). */
const flipSpace = (g: GraphBuilder, w: Value) => g.Slice(w, [-1, -1], [-(2 ** 31), -(2 ** 31)], [2, 3], [-1, -1]);

/**
 * dx for stride 1: substituting i' = k-1-i in the forward sum gives a convolution of dy with the
 * spatially flipped kernel, each group's in and out channels swapped, and pads (k-1)d - p on each side.
 */
function inputGradStride1(g: GraphBuilder, dy: Value, w: Value, a: ConvAttrs): Value | null {
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  const G = a.group, og = o / G, [dh, dw] = a.dilations;
  const pads: ConvAttrs["pads"] = [(kh - 1) * dh - a.pads[0], (kw - 1) * dw - a.pads[1], (kh - 1) * dh - a.pads[2], (kw - 1) * dw - a.pads[3]];
  if (pads.some((p) => p < 0)) return null;
  // [G*Og, Cg, kh, kw] -> [G*Cg, Og, kh, kw]; the identity when Og = Cg = 1 (depthwise), so skip it.
  const swapped = og === 1 && cg === 1 ? w : g.Reshape(g.Transpose(g.Reshape(w, [G, og, cg, kh, kw]), [0, 2, 1, 3, 4]), [G * cg, og, kh, kw]);
  return g.Conv(dy, flipSpace(g, swapped), null, { strides: [1, 1], pads, dilations: a.dilations, group: G });
}

/** dx for stride = kernel, no padding, one group: the forward is patches @ W^T, so dx is dy @ W put back. */
function inputGradPatches(g: GraphBuilder, x: Value, dy: Value, w: Value): Value {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, , kh, kw] = w.shape as [number, number, number, number];
  const gh = h / kh, gw = wd / kw;
  const dyFlat = g.Reshape(g.Transpose(dy, [0, 2, 3, 1]), [n * gh * gw, o]);
  const dp = g.MatMul(dyFlat, g.Reshape(w, [o, c * kh * kw]));
  return g.Reshape(g.Transpose(g.Reshape(dp, [n, gh, gw, c, kh, kw]), [0, 3, 1, 4, 2, 5]), [n, c, h, wd]);
}

/**
 * dW[o,ci,i,j] = sum_{n,h,w} dy[n,o,h,w] xp[n, grp*Cg+ci, h*s + i*d, w*s + j*d]: a grouped Conv whose
 * batch is ci, whose channels are (group, n) and whose kernel is dy (channels o, per-group inputs n),
 * with stride d and dilation s. Rows past the kernel (left by the forward's floor) are cut off.
 */
function weightGrad(g: GraphBuilder, x: Value, dy: Value, w: Value, a: ConvAttrs): Value {
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, cg, kh, kw] = w.shape as [number, number, number, number];
  const G = a.group;
  const xs = g.Reshape(g.Transpose(g.Reshape(x, [n, G, cg, h, wd]), [2, 1, 0, 3, 4]), [cg, G * n, h, wd]);
  const k = g.Transpose(dy, [1, 0, 2, 3]);
  let out = g.Conv(xs, k, null, { strides: a.dilations, pads: a.pads, dilations: a.strides, group: G });
  if (out.shape[2] !== kh || out.shape[3] !== kw) out = g.Slice(out, [0, 0], [kh, kw], [2, 3]);
  return g.Transpose(out, [1, 0, 2, 3]);
}

export const conv = {
  Conv: defineOp("Conv", {
    infer: ({ x: [x, w, b], attrs, fail }) => inferConv(x!, w!, b ?? null, attrs, fail),
    vjp: ({ g, node, dy: [dy], x: [x, w, b], attrs, needs }) => {
      const a = convAttrs(w!, attrs);
      const [, , h, wd] = x!.shape as number[];
      const [kh, kw] = a.kernel_shape;
      let dx: Value | null = null;
      if (needs[0]) {
        const patchLike = a.group === 1 && a.strides[0] === kh && a.strides[1] === kw && a.pads.every((v) => v === 0)
          && a.dilations.every((v) => v === 1) && h! % kh === 0 && wd! % kw === 0;
        const stride1 = a.strides[0] === 1 && a.strides[1] === 1;
        dx = patchLike ? inputGradPatches(g, x!, dy!, w!) : stride1 ? inputGradStride1(g, dy!, w!, a) : null;
        if (!dx) {
          throw new GradError(`Conv node "${node.name}": input gradient needs stride 1 with pads <= (kernel-1)*dilation, or stride = kernel without pads and groups (got strides ${fmt(a.strides)}, pads ${fmt(a.pads)}, group ${a.group})`);
        }
      }
      const dw = needs[1] ? weightGrad(g, x!, dy!, w!, a) : null;
      const db = b && needs[2] ? g.ReduceSum(dy!, [0, 2, 3], 0) : null;
      return b ? [dx, dw, db] : [dx, dw];
    },
  }),
};
