/**
 * @file The int8 frozen linear (QLoRA's idea on CPU int8 kernels, https://arxiv.org/abs/2305.14314): a
 * frozen weight stored int8 with one scale per output channel, activations quantized per row at run
 * time, the few largest-magnitude input columns kept float32 (LLM.int8, https://arxiv.org/abs/2208.07339).
 * Standard ONNX only: QuantizeLinear, MatMulInteger, Cast, Mul. Measured in bench/int8-gemm.ts.
 */
import { ConfigError } from "../errors.js";
import type { GraphBuilder } from "./builder.js";
import type { Value } from "./value.js";

/**
 * Input columns kept float32 per product. Per-row scales alone give 1.1% relative error on Gaussian
 * activations but 5-10% with 4 columns x100 (ViT activations have such channels); taking the 8
 * largest columns out brings that to 0.8-0.9% (bench/int8-gemm.ts, ViT-B shapes).
 */
export const OUTLIER_COLUMNS = 8;

/** A frozen weight as graph values: `q` int8 [K, N] (input-major, as MatMulInteger takes it) and `scale` [N]. */
export interface Int8Weight {
  q: Value;
  scale: Value;
}

/** A frozen weight on the host: W[n, k] ≈ q[k * N + n] * scale[n] (q is W transposed). */
export interface QuantizedWeight {
  /** int8 [K, N]: W^T rounded to the nearest step of its column's scale. */
  q: Int8Array;
  /** float32 [N]: max_k |W[n, k]| / 127 (a tiny positive number for an all-zero channel). */
  scale: Float32Array;
}

/**
 * Quantizes a weight stored [N, K] (timm's nn.Linear layout, out x in) per output channel:
 * scale[n] = max|W[n, :]| / 127, q = round(W / scale), so |W - q * scale| <= scale / 2.
 *
 * @example
 * const { q, scale } = quantizeWeight(new Float32Array([0.5, -1, 2, 0.25]), 2, 2); // scale = [1/127, 2/127]
 */
export function quantizeWeight(w: Float32Array, N: number, K: number): QuantizedWeight {
  if (w.length !== N * K) throw new ConfigError(`quantizeWeight: ${w.length} values for [${N}, ${K}]`);
  const scale = new Float32Array(N), q = new Int8Array(K * N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[n * K + k]!));
    // fround: the graph multiplies by the float32 scale, so round against that same value.
    const s = (scale[n] = Math.fround(Math.max(m, 1e-30) / 127));
    for (let k = 0; k < K; k++) q[k * N + n] = Math.max(-127, Math.min(127, Math.round(w[n * K + k]! / s)));
  }
  return { q, scale };
}

/**
 * W [N, K] (timm's layout) back from its int8 form.
 *
 * @example
 * const w = dequantizeWeight(quantizeWeight(w0, N, K), N, K); // |w - w0| <= scale / 2 per channel
 */
export function dequantizeWeight(qw: QuantizedWeight, N: number, K: number): Float32Array {
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) w[n * K + k] = qw.q[k * N + n]! * qw.scale[n]!;
  return w;
}

/**
 * x @ B for float32 x [M, K] and int8 B [K, N]: x's rows quantized to uint8 with their own scale
 * s = max|row| / 127 and zero point 128 (ORT's MatMulInteger takes only a scalar activation zero
 * point, and runs s8s8 3-4x slower than u8s8: bench/int8-gemm.ts), so an int32 product rescaled by s.
 * The `outliers` columns of largest max|x| are left out of s; they saturate, and a small float32
 * product (x_o - s (q_o - 128)) @ B_o replaces their int8 contribution.
 *
 * @example
 * const y = g.Mul(int8MatMul(g, x, g.initializer("w_int8", [K, N], q, "int8")), scale); // ≈ x W^T
 */
export function int8MatMul(g: GraphBuilder, x: Value, b: Value, outliers = OUTLIER_COLUMNS): Value {
  const [M, K] = x.shape as [number, number];
  const k = Math.min(outliers, K);
  const ax = g.Abs(x);
  let rowMax: Value, idx: Value | null = null;
  if (k > 0) {
    idx = g.TopK(g.ReduceMax(ax, [0], 0), k)[1];
    const keep = g.ScatterElements(g.Expand(g.scalar(1), [K]), idx, g.Expand(g.scalar(0), [k]));
    rowMax = g.ReduceMax(g.Mul(ax, keep), [1], 1);
  } else rowMax = g.ReduceMax(ax, [1], 1);
  const s = g.Mul(g.Max(rowMax, g.scalar(1e-30)), g.scalar(1 / 127));
  const zp = g.scalar(128, "uint8");
  const xq = g.QuantizeLinear(x, g.Reshape(s, [M]), g.Expand(zp, [M]), 0);
  const y = g.Mul(g.Cast(g.MatMulInteger(xq, b, zp), "float32"), s);
  if (!idx) return y;
  const qo = g.Mul(g.Sub(g.Cast(g.Gather(xq, idx, 1), "float32"), g.scalar(128)), s);
  return g.Add(y, g.MatMul(g.Sub(g.Gather(x, idx, 1), qo), g.Cast(g.Gather(b, idx, 0), "float32")));
}

/**
 * y = x W^T + b for a frozen int8 weight (timm's nn.Linear), x of any rank with features last.
 * Forward: int8MatMul(x, q) * scale. Backward (a straight-through estimate: round() has no useful
 * derivative): dX = dY W^T-side product with W = q diag(scale), so scale, which varies along this
 * product's contraction, is folded into dY first, dX = int8MatMul(dY * scale, q^T); q^T is a Transpose
 * of an initializer, folded once when ORT loads the graph. No gradient for the weight; the bias is
 * added outside, so BitFit still trains it.
 *
 * @example
 * const { q, scale } = quantizeWeight(w, N, K);
 * const y = int8Linear(g, x, { q: g.initializer("fc.w_int8", [K, N], q, "int8"), scale: g.initializer("fc.w_scale", [N], scale) }, bias);
 */
export function int8Linear(g: GraphBuilder, x: Value, w: Int8Weight, bias: Value | null, outliers = OUTLIER_COLUMNS): Value {
  const [K, N] = w.q.shape as [number, number];
  if (x.shape[x.rank - 1] !== K) throw new ConfigError(`int8Linear: x has ${x.shape[x.rank - 1]} features, the weight ${K}`);
  const lead = x.shape.slice(0, -1);
  const flat = (v: Value, n: number) => (v.rank === 2 ? v : g.Reshape(v, [-1, n]));
  const back = (v: Value) => (lead.length === 1 ? v : g.Reshape(v, [...lead, v.shape[1]!]));
  const y = g.customVjp(
    [x],
    (g, [v]) => back(g.Mul(int8MatMul(g, flat(v!, K), w.q, outliers), w.scale)),
    (g, _xs, _y, dy) => [back(int8MatMul(g, g.Mul(flat(dy, N), w.scale), g.Transpose(w.q, [1, 0]), outliers))],
  );
  return bias ? g.Add(y, bias) : y;
}
