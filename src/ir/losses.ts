/** @file Loss composites built from builder ops, so autodiff differentiates them like any other graph. */
import { ConfigError, ShapeError } from "../errors.js";
import type { GraphBuilder } from "./builder.js";
import { isFloat } from "./dtype.js";
import { fmt } from "./shape.js";
import type { Value } from "./value.js";

export interface CrossEntropyOptions {
  /** ε in [0, 1]: the target is (1-ε)·onehot + ε/C, as torch's F.cross_entropy(label_smoothing=ε). */
  labelSmoothing?: number;
  /** "mean" (scalar, default), "sum" (scalar) or "none" (one loss per sample, [B]). */
  reduction?: "mean" | "sum" | "none";
}

/**
 * Softmax cross-entropy of `logits` [B, C] against integer class `labels` [B] (int64), with
 * torch's label-smoothing semantics: loss_b = -Σ_c ((1-ε)·[c = y_b] + ε/C) · log_softmax(logits)_bc.
 * The one-hot comes from Equal against a constant class index row (no OneHot kernel needed in float64);
 * the gradient flows through log-softmax only, whose rule needs just its output. Every node has a
 * WebGPU kernel (see GraphBuilder.logSoftmax).
 *
 * @example
 * const loss = crossEntropy(g, logits, labels, { labelSmoothing: 0.1 });
 */
export function crossEntropy(g: GraphBuilder, logits: Value, labels: Value, opts: CrossEntropyOptions = {}): Value {
  const { labelSmoothing = 0, reduction = "mean" } = opts;
  if (logits.rank !== 2 || !isFloat(logits.dtype)) {
    throw new ShapeError(`crossEntropy: logits must be float [B, C], got ${logits.toString()}`);
  }
  const [b, c] = logits.shape as [number, number];
  if (labels.dtype !== "int64" || labels.rank !== 1 || labels.shape[0] !== b) {
    throw new ShapeError(`crossEntropy: labels must be int64 [${b}] to match logits ${fmt(logits.shape)}, got ${labels.toString()}`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing <= 1)) {
    throw new ConfigError(`crossEntropy: labelSmoothing must be in [0, 1], got ${labelSmoothing}`);
  }
  if (!["mean", "sum", "none"].includes(reduction)) {
    throw new ConfigError(`crossEntropy: unknown reduction "${reduction}"; expected one of mean, sum, none`);
  }
  return g.scope("cross_entropy", () => {
    const dt = logits.dtype;
    const logp = g.logSoftmax(logits, -1);
    // WebGPU has no int64 arithmetic or comparison, but it gathers with int64 indices: the label is
    // read as a float from a class-index table (exact below 2^24 classes) and compared in float.
    // An out-of-range label fails the Gather instead of giving an all-zero target row.
    const index = Array.from({ length: c }, (_, i) => i);
    const label = g.Unsqueeze(g.Gather(g.constant(index, [c], dt), labels, 0), [1]);
    const onehot = g.Cast(g.Equal(label, g.constant(index, [1, c], dt)), dt);
    const target = labelSmoothing === 0
      ? onehot
      : g.Add(g.Mul(onehot, g.scalar(1 - labelSmoothing, dt)), g.scalar(labelSmoothing / c, dt));
    const perSample = g.Neg(g.ReduceSum(g.Mul(target, logp), [1], 0));
    if (reduction === "none") return perSample;
    const total = g.ReduceSum(perSample, [0], 0);
    return reduction === "sum" ? total : g.Div(total, g.scalar(b, dt));
  });
}
