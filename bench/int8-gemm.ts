/**
 * @file Which int8 GEMM pattern should the frozen backbone use on ORT CPU? Times ViT-B's linear shapes at
 * batch 8 (M = 1576 tokens; the [K, N] list covers qkv, proj, fc1, fc2 forward and the backward's
 * transposed shapes) for float32 MatMul and several standard-ONNX int8 patterns, and measures each
 * pattern's relative error (Frobenius, against float32) on Gaussian activations and on activations
 * with 4 outlier columns scaled x100 (as ViT activations and gradients have).
 * node --import tsx bench/int8-gemm.ts [--m 1576] [--threads 2] [--reps 7] [--only 768x2304]
 */
import { availableParallelism } from "node:os";
import { GraphBuilder } from "../src/ir/builder.js";
import { int8MatMul } from "../src/ir/int8-matmul.js";
import type { Value } from "../src/ir/value.js";
import { Rng } from "../src/random.js";
import { CompiledGraph } from "../src/runtime/compiled.js";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const M = Number(opt("m", "1576")), threads = Number(opt("threads", String(availableParallelism()))), reps = Number(opt("reps", "7"));
const SHAPES = opt("only", "768x2304,2304x768,768x768,768x3072,3072x768").split(",").map((s) => s.split("x").map(Number) as [number, number]);

/** Per-column absmax/127 int8 weight, as the backbone stores it. */
function quantizeColumns(w: Float32Array, K: number, N: number): { q: Int8Array; s: Float32Array } {
  const s = new Float32Array(N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) s[n] = Math.max(s[n]!, Math.abs(w[k * N + n]!));
  for (let n = 0; n < N; n++) s[n] = Math.max(s[n]!, 1e-30) / 127;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) q[k * N + n] = Math.round(w[k * N + n]! / s[n]!);
  return { q, s };
}

type Pattern = (g: GraphBuilder, x: Value, wq: Value, sCol: Value) => Value;

/** s_row = max|x_row| / 127 as [M, 1]. */
const rowScale = (g: GraphBuilder, x: Value) =>
  g.Mul(g.Max(g.ReduceMax(g.Abs(x), [1], 1), g.scalar(1e-30)), g.scalar(1 / 127));

function outlierSplit(g: GraphBuilder, x: Value, wq: Value, sCol: Value, k: number): Value {
  const K = x.shape[1]!;
  const ax = g.Abs(x);
  const [, idx] = g.TopK(g.ReduceMax(ax, [0], 0), k);
  const keep = g.ScatterElements(g.Expand(g.scalar(1), [K]), idx, g.Expand(g.scalar(0), [k]));
  const main = g.Mul(x, keep);
  const s = g.Mul(g.Max(g.ReduceMax(g.Mul(ax, keep), [1], 1), g.scalar(1e-30)), g.scalar(1 / 127));
  const xq = g.Cast(g.Add(g.Round(g.Div(main, s)), g.scalar(128)), "uint8");
  const yMain = g.Mul(g.Cast(g.MatMulInteger(xq, wq, g.scalar(128, "uint8")), "float32"), s);
  const yOut = g.MatMul(g.Gather(x, idx, 1), g.Cast(g.Gather(wq, idx, 0), "float32"));
  return g.Mul(g.Add(yMain, yOut), sCol);
}

const PATTERNS: Record<string, Pattern | null> = {
  fp32: null,
  // Per-row scale through QuantizeLinear's per-axis form (axis 0), zero point 128 per row.
  "row/QL": (g, x, wq, sCol) => {
    const s = rowScale(g, x);
    const xq = g.QuantizeLinear(x, g.Reshape(s, [M]), g.Expand(g.scalar(128, "uint8"), [M]), 0);
    return g.Mul(g.Mul(g.Cast(g.MatMulInteger(xq, wq, g.scalar(128, "uint8")), "float32"), s), sCol);
  },
  // Per-row scale by hand: round(x / s) + 128, cast to uint8.
  "row/Round": (g, x, wq, sCol) => {
    const s = rowScale(g, x);
    const xq = g.Cast(g.Add(g.Round(g.Div(x, s)), g.scalar(128)), "uint8");
    return g.Mul(g.Mul(g.Cast(g.MatMulInteger(xq, wq, g.scalar(128, "uint8")), "float32"), s), sCol);
  },
  // Per-row, signed activations (s8s8): does ORT CPU take int8 A?
  "row/s8s8": (g, x, wq, sCol) => {
    const s = rowScale(g, x);
    const xq = g.QuantizeLinear(x, g.Reshape(s, [M]), g.Expand(g.scalar(0, "int8"), [M]), 0);
    return g.Mul(g.Mul(g.Cast(g.MatMulInteger(xq, wq), "float32"), s), sCol);
  },
  // Per-row zero point [M] handed to MatMulInteger (the spec allows it): does ORT CPU?
  "row/zp[M]": (g, x, wq, sCol) => {
    const s = rowScale(g, x);
    const zp = g.Expand(g.scalar(128, "uint8"), [M]);
    const xq = g.QuantizeLinear(x, g.Reshape(s, [M]), zp, 0);
    return g.Mul(g.Mul(g.Cast(g.MatMulInteger(xq, wq, zp), "float32"), s), sCol);
  },
  // LLM.int8-style: the top-k columns by max|x| go through a float32 MatMul against their dequantized
  // weight rows, the rest per-row int8 as row/Round.
  "row+top8": (g, x, wq, sCol) => outlierSplit(g, x, wq, sCol, 8),
  "row+top16": (g, x, wq, sCol) => outlierSplit(g, x, wq, sCol, 16),
  // What ships (src/ir/int8-matmul.ts): per-row QuantizeLinear with the 8 largest columns out of the
  // row scales (they saturate) and a [M, 8] float32 correction for them.
  shipped: (g, x, wq, sCol) => g.Mul(int8MatMul(g, x, wq), sCol),
  // The shipped pattern with its float32 correction added by Gemm's C input (one [M, N] pass less).
  "gemm-fix": (g, x, wq, sCol) => {
    const K = x.shape[1]!, k = 8;
    const ax = g.Abs(x);
    const idx = g.TopK(g.ReduceMax(ax, [0], 0), k)[1];
    const keep = g.ScatterElements(g.Expand(g.scalar(1), [K]), idx, g.Expand(g.scalar(0), [k]));
    const s = g.Mul(g.Max(g.ReduceMax(g.Mul(ax, keep), [1], 1), g.scalar(1e-30)), g.scalar(1 / 127));
    const zp = g.scalar(128, "uint8");
    const xq = g.QuantizeLinear(x, g.Reshape(s, [M]), g.Expand(zp, [M]), 0);
    const y = g.Mul(g.Cast(g.MatMulInteger(xq, wq, zp), "float32"), s);
    const qo = g.Mul(g.Sub(g.Cast(g.Gather(xq, idx, 1), "float32"), g.scalar(128)), s);
    return g.Mul(g.Gemm(g.Sub(g.Gather(x, idx, 1), qo), g.Cast(g.Gather(wq, idx, 0), "float32"), y), sCol);
  },
  // One scale for the whole activation; ORT fuses this into DynamicQuantizeMatMul.
  "tensor/DQL": (g, x, wq, sCol) => {
    const [xq, s, z] = g.DynamicQuantizeLinear(x);
    return g.Mul(g.Cast(g.MatMulInteger(xq, wq, z), "float32"), g.Mul(s, sCol));
  },
};

async function build(K: number, N: number, name: string, w: Float32Array, q: { q: Int8Array; s: Float32Array }) {
  const g = new GraphBuilder();
  const x = g.input("x", [M, K]);
  const p = PATTERNS[name];
  const y = p ? p(g, x, g.initializer("wq", [K, N], q.q, "int8"), g.initializer("s_col", [N], q.s)) : g.MatMul(x, g.initializer("w", [K, N], w));
  g.output(y, "y");
  return CompiledGraph.compile(g, { intraOpThreads: threads });
}

function relErr(y: Float32Array, ref: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < y.length; i++) { num += (y[i]! - ref[i]!) ** 2; den += ref[i]! ** 2; }
  return Math.sqrt(num / den);
}

console.log(`int8 GEMM patterns, M = ${M}, ${threads} threads, median of ${reps}; GFLOP/s (2MKN / t) and relative error vs float32`);
console.log(`${"K x N".padEnd(10)} ${"pattern".padEnd(11)} ${"ms".padStart(7)} ${"GFLOP/s".padStart(8)} ${"x fp32".padStart(7)} ${"err gauss".padStart(10)} ${"err outl.".padStart(10)}`);
for (const [K, N] of SHAPES) {
  const rng = new Rng(K * 7 + N);
  const w = Float32Array.from({ length: K * N }, () => rng.normal() * 0.02);
  const q = quantizeColumns(w, K, N);
  const gauss = Float32Array.from({ length: M * K }, () => rng.normal());
  const outl = gauss.slice();
  for (const c of [3, 100, 400, 700].map((c) => c % K)) for (let m = 0; m < M; m++) outl[m * K + c]! *= 100;
  const refs: Float32Array[] = [];
  const live: [string, CompiledGraph, number[]][] = [];
  for (const name of Object.keys(PATTERNS)) {
    let c: CompiledGraph;
    try {
      c = await build(K, N, name, w, q);
      await c.run({ x: gauss });
    } catch (e) {
      console.log(`${`${K}x${N}`.padEnd(10)} ${name.padEnd(11)} refused: ${String((e as Error).message).split("\n")[0]!.slice(0, 140)}`);
      continue;
    }
    const errs: number[] = [];
    for (const [i, x] of [gauss, outl].entries()) {
      const y = (await c.run({ x })).y!.data as Float32Array;
      if (name === "fp32") refs[i] = y.slice();
      else errs.push(relErr(y, refs[i]!));
    }
    live.push([name, c, errs]);
  }
  // Round-robin over the patterns, so load from other processes falls on all of them alike.
  const ts = live.map((): number[] => []);
  for (let r = 0; r < reps; r++) {
    for (const [i, [, c]] of live.entries()) {
      const t0 = performance.now();
      await c.run({ x: gauss });
      ts[i]!.push(performance.now() - t0);
    }
  }
  const med = ts.map((t) => t.sort((a, b) => a - b)[reps >> 1]!);
  for (const [i, [name, c, errs]] of live.entries()) {
    await c.release();
    const ms = med[i]!;
    const gf = (2 * M * K * N) / ms / 1e6;
    const e = errs.map((v) => `${(v * 100).toFixed(2)}%`.padStart(10)).join(" ");
    console.log(`${`${K}x${N}`.padEnd(10)} ${name.padEnd(11)} ${ms.toFixed(2).padStart(7)} ${gf.toFixed(0).padStart(8)} ${(med[0]! / ms).toFixed(2).padStart(7)} ${e}`);
  }
}
