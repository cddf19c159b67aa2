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

/** Added under the square root so its slope stays finite where two rows coincide. */
export const SQRT_EPS = 1e-30;

/**
 * Squared Euclidean distances per group [P, nIn, nOut] as one matmul of augmented factors:
 * [a, |a|^2, 1] . [-2b, 1, |b|^2] = |a|^2 + |b|^2 - 2 a.b. One pass over the large tensor instead
 * of four (add, scale, subtract); rounding can leave tiny negative values.
 */
export function squaredDistances(g: GraphBuilder, A: Value, B: Value): Value {
  const [P, nIn] = A.shape as [number, number, number];
  const nOut = B.shape[1]!;
  const a2 = g.ReduceSum(g.Mul(A, A), [2], 1); // [P, nIn, 1]
  const b2 = g.ReduceSum(g.Mul(B, B), [2], 1); // [P, nOut, 1]
  const Aa = g.Concat([A, a2, g.Expand(g.scalar(1, A.dtype), [P, nIn, 1])], 2);
  const Bb = g.Concat([g.Mul(B, g.scalar(-2, B.dtype)), g.Expand(g.scalar(1, B.dtype), [P, nOut, 1]), b2], 2);
  return dots(g, Aa, Bb);
}

/**
 * Euclidean distances per group. sqrt(|d2| + 1e-30): rounding's tiny negative d2 (where torch.cdist
 * clamps to 0) stays as small as the rounding noise itself, and where two rows coincide exactly
 * the gradient is 0, as torch.cdist's. Abs and Add keep ORT on its fast elementwise kernels (its
 * Where, used by clamps and Relu's rule, is several times slower on these sizes).
 */
export function distances(g: GraphBuilder, A: Value, B: Value): Value {
  // One coordinate per group: |a - b| directly is exact and no larger than the expanded form's
  // [P, nIn, nOut] (whose float32 cancellation costs ~1e-4 relative on close pairs).
  if (A.shape[2] === 1) return g.Abs(g.Sub(A, g.Transpose(B, [0, 2, 1])));
  return g.Sqrt(g.Add(g.Abs(squaredDistances(g, A, B)), g.scalar(SQRT_EPS, A.dtype)));
}

/**
 * sum_p w[p] * x[p] for x [P, nIn, nOut] as one [1, P] @ [P, nIn * nOut] matmul (a weighted
 * reduction over the leading axis, which ORT's ReduceSum does slowly).
 */
function weightedGroups(g: GraphBuilder, x: Value, w: Value): Value {
  const [P, n, m] = x.shape as [number, number, number];
  return g.Reshape(g.MatMul(g.Reshape(w, [1, P]), g.Reshape(x, [P, n * m])), [n, m]);
}

/** k(x, x') per group and summed: K [nIn, nOut]. */
export function kernelMatrix(g: GraphBuilder, kernel: KernelName, inputs: KernelInputs): Value {
  const { A, B } = inputs;
  const [P, nIn, h] = A.shape as [number, number, number];
  const nOut = B.shape[1]!;
  const ones = () => g.constant(new Array(P).fill(1), [P], A.dtype);
  switch (kernel) {
    case "piecewise":
      return weightedGroups(g, distances(g, A, B), inputs.c ?? g.constant(defaultC(P), [P], A.dtype));
    case "linear": {
      // sum_p A_p B_p^T is one rank-(P h) product: LoRA
      const flat = (F: Value, n: number) => g.Reshape(g.Transpose(F, [1, 0, 2]), [n, P * h]);
      return g.MatMul(flat(A, nIn), g.Transpose(flat(B, nOut), [1, 0]));
    }
    case "rbf":
    case "sigmoid": {
      const abg = inputs.abg!;
      const [alpha, beta, gamma] = g.Split(abg, [1, 1, 1], 0) as [Value, Value, Value];
      const pre = kernel === "rbf" ? g.Exp(g.Neg(g.Mul(beta, squaredDistances(g, A, B)))) : g.Sigmoid(g.Mul(beta, dots(g, A, B)));
      return g.Add(g.Mul(alpha, weightedGroups(g, pre, ones())), g.Mul(gamma, g.scalar(P, A.dtype)));
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
