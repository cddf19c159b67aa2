/**
 * @file Kernelized low-rank matrices K [nIn, nOut] from factors A [P, nIn, r/P] and B [P, nOut, r/P],
 * built from builder ops only: K[i,j] = sum_p k(A[p,i], B[p,j]). Distances use
 * ||a||^2 + ||b||^2 - 2 a.b, so no [nIn, nOut, r] tensor exists.
 */
import type { GraphBuilder } from "../../ir/builder.js";
import type { Value } from "../../ir/value.js";
import type { KernelName } from "./config.js";

/** Values a kernel needs besides the factors. */
export interface KernelInputs {
  A: Value;
  B: Value;
  /** Piecewise kernel: c [P] (constant or learnable). */
  c?: Value;
  /** RBF / sigmoid: (alpha, beta, gamma) [3], learnable. */
  abg?: Value;
}

/** Fixed c of the authors' code: +0.1 and -0.1 alternating over the groups. */
export function defaultC(groups: number): number[] {
  return Array.from({ length: groups }, (_, p) => (p % 2 === 0 ? 0.1 : -0.1));
}

/**
 * Initial (alpha, beta, gamma) of the RBF and sigmoid kernels: alpha = beta = 1 and gamma chosen so
 * that k = 0 for identical/orthogonal tiny factors (RBF: gamma = -1; sigmoid: gamma = -1/2), keeping
 * dW near 0 at initialisation as the other kernels do.
 */
export function defaultAbg(kernel: KernelName): [number, number, number] {
  return kernel === "rbf" ? [1, 1, -1] : [1, 1, -0.5];
}

/** a.b for every pair, per group: [P, nIn, nOut]. */
function dots(g: GraphBuilder, A: Value, B: Value): Value {
  return g.MatMul(A, g.Transpose(B, [0, 2, 1]));
}

/**
 * Squared Euclidean distances per group [P, nIn, nOut], clamped at 0 (rounding can make the
 * expanded form slightly negative, where torch.cdist returns 0).
 */
export function squaredDistances(g: GraphBuilder, A: Value, B: Value): Value {
  const [P, nIn] = A.shape as [number, number, number];
  const nOut = B.shape[1]!;
  const a2 = g.ReduceSum(g.Mul(A, A), [2], 1); // [P, nIn, 1]
  const b2 = g.Reshape(g.ReduceSum(g.Mul(B, B), [2], 1), [P, 1, nOut]); // [P, 1, nOut]
  const ab = dots(g, A, B);
  const d2 = g.Sub(g.Add(a2, b2), g.Mul(ab, g.scalar(2, A.dtype)));
  return g.Relu(d2);
}

/**
 * Euclidean distances per group. sqrt has an infinite slope at 0; there, as torch.cdist, the
 * gradient is 0: the square root reads 1 instead of 0 on those entries and Where discards it.
 */
export function distances(g: GraphBuilder, A: Value, B: Value): Value {
  // One coordinate per group: |a - b| directly is exact and no larger than the expanded form's
  // [P, nIn, nOut] (whose float32 cancellation costs ~1e-4 relative on close pairs).
  if (A.shape[2] === 1) return g.Abs(g.Sub(A, g.Transpose(B, [0, 2, 1])));
  const d2 = squaredDistances(g, A, B);
  const zero = g.scalar(0, A.dtype);
  const pos = g.Greater(d2, zero);
  const safe = g.Where(pos, d2, g.scalar(1, A.dtype));
  return g.Where(pos, g.Sqrt(safe), zero);
}

/** Sums a per-group [P, nIn, nOut] tensor over the groups. */
function sumGroups(g: GraphBuilder, x: Value): Value {
  return x.shape[0] === 1 ? g.Squeeze(x, [0]) : g.ReduceSum(x, [0], 0);
}

/** k(x, x') per group and summed: K [nIn, nOut]. */
export function kernelMatrix(g: GraphBuilder, kernel: KernelName, inputs: KernelInputs): Value {
  const { A, B } = inputs;
  const P = A.shape[0]!;
  switch (kernel) {
    case "piecewise": {
      const c = inputs.c ?? g.constant(defaultC(P), [P], A.dtype);
      return sumGroups(g, g.Mul(distances(g, A, B), g.Reshape(c, [P, 1, 1])));
    }
    case "linear":
      return sumGroups(g, dots(g, A, B));
    case "rbf":
    case "sigmoid": {
      const abg = inputs.abg!;
      const [alpha, beta, gamma] = g.Split(abg, [1, 1, 1], 0) as [Value, Value, Value];
      const pre = kernel === "rbf" ? g.Exp(g.Neg(g.Mul(beta, squaredDistances(g, A, B)))) : g.Sigmoid(g.Mul(beta, dots(g, A, B)));
      return sumGroups(g, g.Add(g.Mul(alpha, pre), gamma));
    }
  }
}

/**
 * SNELLA's MixK: K + alpha * softmax(K / gamma, over outputs) + beta, with mix = (alpha, gamma, beta).
 */
export function mixKernel(g: GraphBuilder, K: Value, mix: Value): Value {
  const [alpha, gamma, beta] = g.Split(mix, [1, 1, 1], 0) as [Value, Value, Value];
  return g.Add(g.Add(K, g.Mul(alpha, g.Softmax(g.Div(K, gamma), -1))), beta);
}
