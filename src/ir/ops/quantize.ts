/**
 * @file Integer ops for the int8 frozen backbone (standard ONNX only): MatMulInteger, QuantizeLinear,
 * DynamicQuantizeLinear and Round. Their outputs are integers or rounding steps, so none carries a
 * gradient; the int8 linear composite (int8-linear.ts) supplies its own straight-through rule.
 */
import { defineOp, type OutSpec } from "../op.js";
import { broadcastShapes, fmt, normAxis } from "../shape.js";

const INT8 = new Set(["int8", "uint8"]);

export const quantize = {
  // int32 Y = (A - a_zp) @ (B - b_zp); integer output: no gradient (int8-linear.ts has the rule).
  MatMulInteger: defineOp("MatMulInteger", {
    infer: ({ x: [a, b, azp, bzp], fail }): OutSpec[] => {
      if (!INT8.has(a!.dtype) || !INT8.has(b!.dtype)) fail(`needs int8/uint8 inputs, got ${a!.dtype} @ ${b!.dtype}`);
      if (azp && azp.dtype !== a!.dtype) fail(`a_zero_point must be ${a!.dtype}, got ${azp.dtype}`);
      if (bzp && bzp.dtype !== b!.dtype) fail(`b_zero_point must be ${b!.dtype}, got ${bzp.dtype}`);
      if (a!.rank < 2 || b!.rank !== 2) fail("A must have rank >= 2 and B rank 2");
      const k1 = a!.shape[a!.rank - 1]!, k2 = b!.shape[0]!;
      if (k1 !== k2) fail(`inner dimensions differ: ${fmt(a!.shape)} @ ${fmt(b!.shape)}`);
      return [{ shape: [...a!.shape.slice(0, -1), b!.shape[1]!], dtype: "int32" }];
    },
    vjp: "none",
  }),
  // y = saturate(round(x / scale) + zp), per tensor or per axis (scale and zp 1-D along `axis`).
  QuantizeLinear: defineOp("QuantizeLinear", {
    infer: ({ x: [x, scale, zp], attrs, fail }): OutSpec[] => {
      if (x!.dtype !== "float32" || scale!.dtype !== "float32") fail("needs float32 x and scale");
      if (!zp || !INT8.has(zp.dtype)) fail("needs an int8 or uint8 zero point (it sets the output type)");
      if (scale!.rank === 1) {
        const axis = normAxis((attrs.axis as number | undefined) ?? 1, x!.rank) ?? fail(`axis ${attrs.axis} out of range`);
        if (scale!.shape[0] !== x!.shape[axis]) fail(`per-axis scale ${fmt(scale!.shape)} does not match axis ${axis} of ${fmt(x!.shape)}`);
      } else if (scale!.rank !== 0) fail("scale must be a scalar or 1-D");
      if (zp!.rank !== scale!.rank || !broadcastShapes(zp!.shape, scale!.shape)) fail("zero point must be shaped like the scale");
      return [{ shape: x!.shape, dtype: zp!.dtype }];
    },
    vjp: "none",
  }),
  // (y uint8, scale [], zp []) with one scale for the whole tensor; quantized outputs carry no gradient.
  DynamicQuantizeLinear: defineOp("DynamicQuantizeLinear", {
    infer: ({ x: [x], fail }): OutSpec[] => {
      if (x!.dtype !== "float32") fail(`needs float32, got ${x!.dtype}`);
      return [{ shape: x!.shape, dtype: "uint8" }, { shape: [], dtype: "float32" }, { shape: [], dtype: "uint8" }];
    },
    vjp: "none",
  }),
  // Round half to even; its derivative is zero almost everywhere, so no gradient flows.
  Round: defineOp("Round", {
    infer: ({ x: [x], fail }): OutSpec[] => {
      if (x!.dtype !== "float32" && x!.dtype !== "float64") fail(`needs a float input, got ${x!.dtype}`);
      return [{ shape: x!.shape, dtype: x!.dtype }];
    },
    vjp: "none",
  }),
};
