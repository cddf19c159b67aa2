/** @file Rows of the gradient-rule matrix: shared by ops.test.ts (runs them) and coverage.test.ts (checks every rule has one). */
import type { GraphBuilder } from "../../src/ir/builder.js";
import type { Value } from "../../src/ir/value.js";
import type { InputSpec } from "../helpers/gradcheck.js";

/** [title (a sentence), graph under test, inputs, dtype and tolerance when not float64 / 1e-6]. */
export type Row = [title: string, f: (g: GraphBuilder, x: Value[]) => Value, inputs: InputSpec[], opts?: { dtype?: "float32"; tol?: number }];

/** One row per gradient rule at least; test/grad/coverage.test.ts fails when an op with a vjp function has none. */
export const ROWS: Row[] = [
  ["Add broadcasts its second input", (g, [a, b]) => g.Add(a!, b!), [{ shape: [2, 3] }, { shape: [1, 3] }]],
  ["Sub broadcasts a rank-1 input", (g, [a, b]) => g.Sub(a!, b!), [{ shape: [2, 3] }, { shape: [3] }]],
  ["Mul broadcasts both inputs", (g, [a, b]) => g.Mul(a!, b!), [{ shape: [2, 1, 4] }, { shape: [3, 1] }]],
  ["Div", (g, [a, b]) => g.Div(a!, b!), [{ shape: [3, 4] }, { shape: [4], domain: "nonzero" }]],
  ["Pow with a tensor exponent", (g, [a, b]) => g.Pow(a!, b!), [{ shape: [3, 2], domain: "positive" }, { shape: [2] }]],
  ["Neg", (g, [a]) => g.Neg(a!), [{ shape: [5] }]],
  ["Abs", (g, [a]) => g.Abs(a!), [{ shape: [2, 3], domain: "nonzero" }]],
  ["Sqrt", (g, [a]) => g.Sqrt(a!), [{ shape: [4, 5], domain: "positive" }]],
  ["Exp", (g, [a]) => g.Exp(a!), [{ shape: [3, 3] }]],
  ["Log", (g, [a]) => g.Log(a!), [{ shape: [3, 3], domain: "positive" }]],
  ["Tanh", (g, [a]) => g.Tanh(a!), [{ shape: [3, 4] }]],
  ["Sigmoid", (g, [a]) => g.Sigmoid(a!), [{ shape: [3, 4] }]],
  ["Erf (float32: ORT has no float64 Erf)", (g, [a]) => g.Erf(a!), [{ shape: [3, 4] }], { dtype: "float32", tol: 2e-3 }],
  ["exact GELU (float32)", (g, [a]) => g.gelu(a!), [{ shape: [3, 4] }], { dtype: "float32", tol: 2e-3 }],
  ["Where routes gradient by the mask", (g, [a, b, m]) => g.Where(g.Cast(m!, "bool"), a!, b!), [{ shape: [2, 3] }, { shape: [3] }, { shape: [2, 3], values: [1, 0, 1, 0, 0, 1], dtype: "uint8" }]],
  ["MatMul, batched", (g, [a, b]) => g.MatMul(a!, b!), [{ shape: [2, 3, 4] }, { shape: [2, 4, 5] }]],
  ["MatMul, batch broadcast against a 2-D weight", (g, [a, b]) => g.MatMul(a!, b!), [{ shape: [2, 3, 4] }, { shape: [4, 5] }]],
  ["MatMul with transposes", (g, [a, b]) => g.MatMul(g.Transpose(a!, [0, 2, 1]), g.Transpose(b!, [1, 0])), [{ shape: [2, 4, 3] }, { shape: [5, 4] }]],
  ["Gemm transA transB with alpha beta", (g, [a, b, c]) => g.Gemm(a!, b!, c!, { transA: 1, transB: 1, alpha: 0.7, beta: 1.3 }), [{ shape: [4, 3] }, { shape: [5, 4] }, { shape: [5] }]],
  ["Gemm plain", (g, [a, b]) => g.Gemm(a!, b!, null), [{ shape: [3, 4] }, { shape: [4, 2] }]],
  ["Reshape", (g, [a]) => g.Reshape(a!, [3, -1]), [{ shape: [2, 3, 2] }]],
  ["Transpose", (g, [a]) => g.Transpose(a!, [2, 0, 1]), [{ shape: [2, 3, 4] }]],
  ["Concat", (g, [a, b]) => g.Concat([a!, b!], 1), [{ shape: [2, 3] }, { shape: [2, 2] }]],
  ["Slice with a step", (g, [a]) => g.Slice(a!, [1, 0], [4, 5], [0, 1], [2, 2]), [{ shape: [5, 6] }]],
  ["Slice, contiguous", (g, [a]) => g.Slice(a!, [1], [3], [1]), [{ shape: [3, 4] }]],
  ["Split", (g, [a]) => { const [p, q] = g.Split(a!, [1, 3], 1); return g.Mul(p!, g.ReduceSum(q!, [1], 1)); }, [{ shape: [2, 4] }]],
  ["Gather with repeated indices", (g, [a, i]) => g.Gather(a!, i!, 1), [{ shape: [2, 4, 3] }, { shape: [3], values: [1, 3, 1], dtype: "int64" }]],
  ["Softmax", (g, [a]) => g.Softmax(a!, -1), [{ shape: [3, 5] }]],
  ["LogSoftmax", (g, [a]) => g.LogSoftmax(a!, 1), [{ shape: [3, 5] }]],
  ["ReduceSum over two axes", (g, [a]) => g.ReduceSum(a!, [0, 2], 0), [{ shape: [2, 3, 4] }]],
  ["ReduceMean keepdims", (g, [a]) => g.ReduceMean(a!, [1], 1), [{ shape: [2, 3, 4] }]],
  ["ReduceMax", (g, [a]) => g.ReduceMax(a!, [1], 0), [{ shape: [3, 4] }]],
  ["LayerNormalization (float32)", (g, [x, s, b]) => g.LayerNormalization(x!, s!, b!, { epsilon: 1e-6 }), [{ shape: [2, 3, 6] }, { shape: [6] }, { shape: [6] }], { dtype: "float32", tol: 5e-3 }],
  ["Conv as patch embedding (float32)", (g, [x, w, b]) => g.Conv(x!, w!, b!, { strides: [2, 2], kernel_shape: [2, 2] }), [{ shape: [2, 3, 4, 4] }, { shape: [5, 3, 2, 2] }, { shape: [5] }], { dtype: "float32", tol: 5e-3 }],
  ["Conv, depthwise 3x3 with pads 1 (float32)", (g, [x, w, b]) => g.Conv(x!, w!, b!, { pads: [1, 1, 1, 1], group: 4 }), [{ shape: [2, 4, 5, 5] }, { shape: [4, 1, 3, 3] }, { shape: [4] }], { dtype: "float32", tol: 5e-3 }],
  ["Conv, two groups of 2 -> 3 channels, dilation 2, uneven pads (float32)", (g, [x, w]) => g.Conv(x!, w!, null, { pads: [2, 1, 0, 2], dilations: [2, 2], group: 2 }), [{ shape: [2, 4, 6, 5] }, { shape: [6, 2, 3, 2] }], { dtype: "float32", tol: 5e-3 }],
  ["Conv weight gradient at stride 2 with uneven pads, input constant (float32)", (g, [x, w, b]) => g.Conv(g.stopGradient(x!), w!, b!, { strides: [2, 2], pads: [1, 0, 0, 1] }), [{ shape: [1, 2, 5, 5], values: Array.from({ length: 50 }, (_, i) => Math.sin(i * 1.7)) }, { shape: [3, 2, 3, 3] }, { shape: [3] }], { dtype: "float32", tol: 5e-3 }],
  ["Conv, one group, stride 1, 2x3 kernel, no pads (float32)", (g, [x, w]) => g.Conv(x!, w!, null), [{ shape: [1, 3, 4, 5] }, { shape: [2, 3, 2, 3] }], { dtype: "float32", tol: 5e-3 }],
  ["Expand, Unsqueeze and Squeeze", (g, [a]) => g.Squeeze(g.Expand(g.Unsqueeze(a!, [0]), [3, 2, 4]), []), [{ shape: [2, 4] }]],
  ["Max routes dy to the larger input", (g, [a, b]) => g.Max(a!, b!), [{ shape: [2, 3] }, { shape: [3] }]],
  ["Min routes dy to the smaller input", (g, [a, b]) => g.Min(a!, b!), [{ shape: [2, 3] }, { shape: [2, 1] }]],
  ["Relu", (g, [a]) => g.Relu(a!), [{ shape: [3, 4], domain: "nonzero" }]],
  ["Reciprocal", (g, [a]) => g.Reciprocal(a!), [{ shape: [3, 4], domain: "nonzero" }]],
  ["Identity", (g, [a]) => g.Mul(g.Identity(a!), a!), [{ shape: [5] }]],
  ["Cast from float32 to float64 and back to the input's type", (g, [a]) => { const c = g.Cast(a!, "float64"); return g.Mul(c, c); }, [{ shape: [3, 4] }], { dtype: "float32", tol: 1e-3 }],
  ["ReduceMin", (g, [a]) => g.ReduceMin(a!, [0], 1), [{ shape: [4, 3] }]],
  ["Pad with zeros", (g, [a]) => g.op("Pad", [a!, g.ints([1, 0, 2, 1]), g.scalar(0, "float64")])[0]!, [{ shape: [2, 3] }]],
  ["TopK values", (g, [a]) => g.TopK(a!, 2, { axis: 1 })[0], [{ shape: [3, 5] }]],
];
