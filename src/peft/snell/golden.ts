/**
 * @file Checks the SNELL adapter against golden case files (format: shared/golden/README.md):
 * each case is rebuilt as a float32 graph (kernel, optional MixK, threshold, y = x @ dW and the
 * gradients of sum(y * gy)) and compared entry by entry.
 */
import { platform } from "#platform";
import { grad } from "../../autodiff/grad.js";
import { FormatError } from "../../errors.js";
import { GraphBuilder } from "../../ir/builder.js";
import type { Value } from "../../ir/value.js";
import { CompiledGraph } from "../../runtime/compiled.js";
import { kernelMatrix, mixKernel } from "./kernel.js";
import { sparsify, ZERO_SPARSITY } from "./sparsify.js";

/** One case of a golden file. */
export interface GoldenCase {
  n_in: number; n_out: number; r: number; s: number; snella: boolean;
  A: number[]; B: number[]; x: number[]; gy: number[];
  dW: number[]; y: number[]; gA: number[]; gB: number[]; nonzero: number;
  galpha?: number; ggamma?: number; gbeta?: number;
}

export interface GoldenCaseResult {
  index: number;
  /**
   * Per field, max |ours - golden| / max|golden| (relative to the field's largest magnitude, so
   * entries near 0 do not blow up the ratio); "nonzero" is the absolute count difference.
   */
  maxErrors: Record<string, number>;
  /** Entries whose kept/zeroed state differs from the golden (allowed: at most one, at the threshold). */
  flips: number;
  ok: boolean;
}

export interface GoldenReport {
  cases: GoldenCaseResult[];
  ok: boolean;
}

const ARRAYS = ["A", "B", "x", "gy", "dW", "y", "gA", "gB"] as const;

function parseCases(path: string): GoldenCase[] {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(platform.readFile(path)));
  } catch (cause) {
    throw new FormatError(`golden file "${path}": not readable JSON (${(cause as Error).message})`, { cause });
  }
  if (!Array.isArray(raw)) throw new FormatError(`golden file "${path}": expected a JSON array of cases`);
  return raw.map((c: GoldenCase, i) => {
    for (const f of ["n_in", "n_out", "r", "s", "nonzero"] as const) {
      if (typeof c[f] !== "number") throw new FormatError(`golden file "${path}", case ${i}: field "${f}" must be a number`);
    }
    const want: Record<string, number> = {
      A: c.r * c.n_in, B: c.r * c.n_out, x: (c.x?.length ?? 0), dW: c.n_in * c.n_out,
      gA: c.r * c.n_in, gB: c.r * c.n_out,
    };
    for (const f of ARRAYS) {
      if (!Array.isArray(c[f])) throw new FormatError(`golden file "${path}", case ${i}: field "${f}" must be an array`);
      if (want[f] !== undefined && c[f].length !== want[f]) {
        throw new FormatError(`golden file "${path}", case ${i}: "${f}" has ${c[f].length} values, expected ${want[f]}`);
      }
    }
    if (c.x.length % c.n_in !== 0) throw new FormatError(`golden file "${path}", case ${i}: x length ${c.x.length} is not a multiple of n_in ${c.n_in}`);
    return c;
  });
}

/** Runs one case through ONNX Runtime in float32; returns our arrays by golden field name. */
export async function runGoldenCase(c: GoldenCase): Promise<Record<string, Float32Array>> {
  const g = new GraphBuilder("snell_golden");
  const h = c.r / 2, batch = c.x.length / c.n_in;
  const A = g.input("A", [2, c.n_in, h]);
  const B = g.input("B", [2, c.n_out, h]);
  const x = g.input("x", [batch, c.n_in]);
  const gy = g.input("gy", [batch, c.n_out]);
  const mix = c.snella ? g.input("mix", [3]) : null;
  let K = kernelMatrix(g, "piecewise", { A, B });
  if (mix) K = mixKernel(g, K, mix);
  // s = 0: SNELL's dense K, SNELLA's threshold at the minimum (the golden README's semantics)
  const { dW } = sparsify(g, K, c.s, { atZero: c.snella ? ZERO_SPARSITY.snella : ZERO_SPARSITY.snell });
  const y = g.MatMul(x, dW);
  const loss = g.ReduceSum(g.Mul(y, gy), [0, 1], 0);
  const wrt: Value[] = mix ? [A, B, mix] : [A, B];
  const grads = grad(g, loss, wrt);
  g.output(dW, "dW");
  g.output(y, "y");
  grads.forEach((d) => g.output(d));
  const compiled = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  try {
    const feeds: Record<string, Float32Array> = {
      A: Float32Array.from(c.A), B: Float32Array.from(c.B), x: Float32Array.from(c.x), gy: Float32Array.from(c.gy),
    };
    if (mix) feeds.mix = Float32Array.from([1, 1, 0]);
    const out = await compiled.run(feeds);
    const get = (v: Value) => out[v.name]!.data as Float32Array;
    const res: Record<string, Float32Array> = { dW: get(dW), y: get(y), gA: get(grads[0]!), gB: get(grads[1]!) };
    if (mix) {
      const gm = get(grads[2]!);
      res.galpha = gm.subarray(0, 1);
      res.ggamma = gm.subarray(1, 2);
      res.gbeta = gm.subarray(2, 3);
    }
    return res;
  } finally {
    await compiled.release();
  }
}

function relErr(ours: ArrayLike<number>, ref: ArrayLike<number>, keep?: (i: number) => boolean): number {
  let scale = 0, err = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  for (let i = 0; i < ref.length; i++) if (!keep || keep(i)) err = Math.max(err, Math.abs(ours[i]! - ref[i]!));
  return scale > 0 ? err / scale : err;
}

/**
 * Checks every case of a golden file. A case passes when its nonzero count is within one of the
 * golden's, and every field is within `tol` relative. When an entry sits at the threshold and
 * flips, dW is compared on the entries both sides keep, and y and the gradients (which then
 * legitimately differ) are not compared.
 */
export async function checkGoldenFile(path: string, { tol = 1e-5 }: { tol?: number } = {}): Promise<GoldenReport> {
  const cases = parseCases(path);
  const results: GoldenCaseResult[] = [];
  for (const [index, c] of cases.entries()) {
    const ours = await runGoldenCase(c);
    let flips = 0, nonzero = 0;
    for (let i = 0; i < c.dW.length; i++) {
      if (ours.dW![i] !== 0) nonzero++;
      if ((ours.dW![i] !== 0) !== (c.dW[i] !== 0)) flips++;
    }
    const maxErrors: Record<string, number> = { nonzero: Math.abs(nonzero - c.nonzero) };
    maxErrors.dW = relErr(ours.dW!, c.dW, (i) => (ours.dW![i] !== 0) === (c.dW[i] !== 0));
    if (flips === 0) {
      for (const f of ["y", "gA", "gB"] as const) maxErrors[f] = relErr(ours[f]!, c[f]);
      for (const f of ["galpha", "ggamma", "gbeta"] as const) {
        const ref = c[f];
        if (ref !== undefined) maxErrors[f] = relErr(ours[f]!, [ref]);
      }
    }
    const ok = maxErrors.nonzero! <= 1 && flips <= 1 && Object.entries(maxErrors).every(([k, e]) => k === "nonzero" || e <= tol);
    results.push({ index, maxErrors, flips, ok });
  }
  return { cases: results, ok: results.every((r) => r.ok) };
}
