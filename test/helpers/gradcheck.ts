/** @file Central finite-difference check of the autodiff rules, run through ONNX Runtime. */
import { grad } from "../../src/autodiff/grad.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { allocate, numel, type DType } from "../../src/ir/dtype.js";
import type { Value } from "../../src/ir/value.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { Rng } from "../../src/random.js";

export interface InputSpec {
  shape: number[];
  /** Where random inputs are drawn: keeps ops in their domain (log, sqrt) and away from kinks. */
  domain?: "any" | "positive" | "nonzero" | "unit";
  /** Constant inputs (indices, masks) get no gradient check. */
  values?: ArrayLike<number>;
  dtype?: DType;
}

export interface GradCheckResult {
  /** max |analytic - numeric| / max(1, |numeric|) over all checked entries. */
  maxError: number;
  checked: number;
}

function draw(rng: Rng, spec: InputSpec, dtype: DType): Float64Array {
  const n = numel(spec.shape);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal();
    if (spec.domain === "positive") v = 0.5 + Math.abs(v);
    if (spec.domain === "nonzero") v = (v >= 0 ? 0.5 : -0.5) + v;
    if (spec.domain === "unit") v = 0.1 + 0.8 * rng.uniform();
    out[i] = dtype === "float32" ? Math.fround(v) : v;
  }
  return out;
}

/**
 * Compares autodiff gradients of sum(f(x...) * r) (r random) with central differences.
 * float64 by default; float32 for ops ORT lacks in float64 (use a larger eps and tolerance).
 */
export async function gradCheck(
  f: (g: GraphBuilder, xs: Value[]) => Value,
  specs: InputSpec[],
  opts: { dtype?: DType; eps?: number; seed?: number } = {},
): Promise<GradCheckResult> {
  const dtype: DType = opts.dtype ?? "float64";
  const eps = opts.eps ?? (dtype === "float64" ? 1e-6 : 1e-2);
  const seed = opts.seed ?? 1;
  const rng = new Rng(seed);
  const g = new GraphBuilder();
  const xs = specs.map((s, i) => g.input(`x${i}`, s.shape, s.dtype ?? dtype));
  const y = f(g, xs);
  const r = g.constant(Array.from(draw(rng, { shape: [...y.shape] }, dtype)), y.shape, y.dtype);
  const loss = g.ReduceSum(g.Mul(y, r), y.shape.map((_, i) => i), 0);
  const checkIdx = specs.map((s, i) => (s.values ? -1 : i)).filter((i) => i >= 0);
  const grads = grad(g, loss, checkIdx.map((i) => xs[i]!));
  g.output(loss, "loss");
  grads.forEach((d) => g.output(d));
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });

  const data = specs.map((s, i) => {
    const dt = s.dtype ?? dtype;
    const a = allocate(dt, numel(s.shape));
    const src = s.values ?? draw(rng, s, dt);
    if (a instanceof BigInt64Array) for (let k = 0; k < a.length; k++) a[k] = BigInt(src[k]!);
    else for (let k = 0; k < a.length; k++) (a as Float64Array)[k] = src[k]!;
    return [`x${i}`, a] as const;
  });
  const feeds = Object.fromEntries(data);
  const analytic = await c.run(feeds);
  const lossAt = async () => Number((await c.run(feeds, ["loss"])).loss!.data[0]);

  let maxError = 0, checked = 0;
  for (const [k, i] of checkIdx.entries()) {
    const arr = feeds[`x${i}`] as Float64Array;
    const an = analytic[grads[k]!.name]!.data as Float64Array;
    for (let j = 0; j < arr.length; j++) {
      const x0 = arr[j]!;
      arr[j] = x0 + eps; const lp = await lossAt();
      arr[j] = x0 - eps; const lm = await lossAt();
      arr[j] = x0;
      const num = (lp - lm) / (2 * eps);
      maxError = Math.max(maxError, Math.abs(an[j]! - num) / Math.max(1, Math.abs(num)));
      checked++;
    }
  }
  await c.release();
  return { maxError, checked };
}
