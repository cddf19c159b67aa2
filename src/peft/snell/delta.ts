/**
 * @file SNELL's dense update dW [nIn, nOut] in plain TS (float64 accumulation): for merging an adapter
 * into the frozen weights and as a graph-free yardstick in tests.
 */
import type { KernelName } from "./config.js";
import { defaultC } from "./kernel.js";
import type { ZeroSparsity } from "./sparsify.js";
import { quantile } from "./threshold.js";

export interface DenseDeltaInput {
  /** [P, nIn, h] and [P, nOut, h], row-major. */
  A: ArrayLike<number>;
  B: ArrayLike<number>;
  groups: number;
  nIn: number;
  nOut: number;
  kernel: KernelName;
  c?: ArrayLike<number>;
  /** (alpha, beta, gamma) of rbf / sigmoid. */
  abg?: ArrayLike<number>;
  /** SNELLA's (alpha, gamma, beta). */
  mix?: ArrayLike<number>;
  sparsity: number;
  soft?: boolean;
  /** s = 0: "dense" gives K (SNELL, default), "threshold" zeroes the smallest |K| (SNELLA); see sparsify.ts. */
  atZero?: ZeroSparsity;
}

/** K (with MixK when `mix` is given), then sparsified as the graph does. */
export function denseDelta(inp: DenseDeltaInput): Float32Array {
  const { A, B, groups: P, nIn, nOut, kernel } = inp;
  const h = A.length / (P * nIn);
  const c = inp.c ?? defaultC(P);
  const [alpha, beta, gamma] = inp.abg ? Array.from(inp.abg) : [1, 1, 0];
  const K = new Float64Array(nIn * nOut);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < nIn; i++) {
      const a = (p * nIn + i) * h;
      for (let j = 0; j < nOut; j++) {
        const b = (p * nOut + j) * h;
        let d2 = 0, dot = 0;
        for (let k = 0; k < h; k++) {
          const u = A[a + k]!, v = B[b + k]!;
          d2 += (u - v) * (u - v);
          dot += u * v;
        }
        let kv: number;
        if (kernel === "piecewise") kv = c[p]! * Math.sqrt(d2);
        else if (kernel === "linear") kv = dot;
        else if (kernel === "rbf") kv = alpha! * Math.exp(-beta! * d2) + gamma!;
        else kv = alpha! / (1 + Math.exp(-beta! * dot)) + gamma!;
        K[i * nOut + j]! += kv;
      }
    }
  }
  if (inp.mix) {
    const [ma, mg, mb] = Array.from(inp.mix) as [number, number, number];
    for (let i = 0; i < nIn; i++) {
      const row = K.subarray(i * nOut, (i + 1) * nOut);
      let mx = -Infinity;
      for (const v of row) mx = Math.max(mx, v / mg);
      let z = 0;
      const e = Array.from(row, (v) => { const t = Math.exp(v / mg - mx); z += t; return t; });
      for (let j = 0; j < nOut; j++) row[j] = row[j]! + ma * e[j]! / z + mb;
    }
  }
  const out = new Float32Array(nIn * nOut);
  if (inp.sparsity <= 0 && (inp.atZero ?? "dense") === "dense") {
    out.set(K);
    return out;
  }
  const mag = K.map(Math.abs);
  const t = quantile(mag, inp.sparsity);
  for (let i = 0; i < K.length; i++) {
    const m = mag[i]!;
    out[i] = inp.soft ? K[i]! * Math.max(m - t, 0) : m > t ? K[i]! * m : 0;
  }
  return out;
}
