/**
 * @file SNELL's fold over an int8 frozen layer (src/peft/snell/int8-fold.ts): with `int8Forward` its
 * forward is int8MatMul(x, q(dequant(W0q) + dW)) (the host quantizer on the host's dW), and not the same
 * without dW; by default the forward is the float32 fold over dequant(W0q) and dx int8MatMul(dy s', q(Wm));
 * the factors' gradients are the float32 fold's (straight-through); the row-blocked backward gives the same numbers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { dequantizeWeight, int8MatMul, quantizeWeight } from "../../src/ir/int8-matmul.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import type { FrozenLinear, SiteInfo } from "../../src/peft/method.js";
import { SNELL_DEFAULTS, snell, type SnellConfig } from "../../src/peft/snell/index.js";
import { snellDelta } from "../../src/peft/snell/method.js";
import { int8Fold } from "../../src/peft/snell/int8-fold.js";
import { siteBlocking } from "../../src/peft/snell/site.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

// The middle third of a fused [3 nOut, nIn] layer (timm's qkv), so the row offset is exercised.
const nIn = 96, nOut = 64, M = 40, rows = [nOut, 2 * nOut] as const;
const site: SiteInfo = { path: "blocks.0.attn.k", nIn, nOut, block: 0, kind: "k" };
const cfg: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, rank: 8, sparsity: 0.5, dropout: 0, dropPath: 0, exactThreshold: true };

function setup() {
  const rng = new Rng(5), ps = new ParameterStore();
  snell.init(ps, site, cfg, rng);
  // Factors as after some training (at init dW is ~1e-4 of W0), so that dropping dW from the fold
  // changes the output by far more than the int8 error.
  for (const p of ps.trainable()) ps.set(p.name, Float32Array.from(p.data, (v) => 30 * v));
  const w0 = Float32Array.from({ length: 3 * nOut * nIn }, () => rng.normal() * 0.1);
  const bias = Float32Array.from({ length: 3 * nOut }, () => rng.normal() * 0.1);
  const x = Float32Array.from({ length: M * nIn }, () => rng.normal());
  const r = Float32Array.from({ length: M * nOut }, (_, i) => Math.cos(i * 0.11));
  return { ps, qw: quantizeWeight(w0, 3 * nOut, nIn), bias, x, r };
}

/** The site (int8 or float32 fold of the same dequantized W0): output, dx and the factors' gradients. */
async function run(int8: boolean) {
  const { ps, qw, bias, x, r } = setup();
  const g = new GraphBuilder(), bind = new ParamBinder(g, ps);
  const xin = g.input("x", [M, nIn]), b = g.initializer("b", [3 * nOut], bias);
  const frozen = (): FrozenLinear => int8
    ? { weight: null, bias: b, rows, int8: { q: g.initializer("wq", [nIn, 3 * nOut], qw.q, "int8"), scale: g.initializer("ws", [3 * nOut], qw.scale) } }
    : { weight: g.initializer("w", [3 * nOut, nIn], dequantizeWeight(qw, 3 * nOut, nIn)), bias: b, rows };
  const y = g.zeros([M, nOut]); // unused: the fold replaces the frozen product
  const out = snell.adapt({ g, bind, site, x: xin, y, frozen, samples: M, train: true, runInput: () => { throw new Error("no run input"); } }, cfg);
  const loss = g.ReduceSum(g.Mul(out, g.constant(Array.from(r), [M, nOut])), [0, 1], 0);
  const names = ps.trainable().map((p) => p.name);
  const grads = grad(g, loss, [xin, ...names.map((n) => bind.get(n))]);
  grads.forEach((d) => g.output(d));
  g.output(out, "out");
  assert.ok(g.nodes.some((n) => n.type === "MatMulInteger") === int8, "int8 path");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const res = await c.run({ x, ...Object.fromEntries(ps.trainable().map((p) => [p.name, p.data])) });
  await c.release();
  const get = (n: string) => Float32Array.from(res[n]!.data as Float32Array);
  return { out: get("out"), dx: get(grads[0]!.name), dFactors: grads.slice(1).map((d) => get(d.name)) };
}

/** int8MatMul(x, q(W)) * s + b and the straight-through int8MatMul(dy * s, q(W)^T) for a host weight W [nOut, nIn]. */
async function int8Reference(w: Float32Array, bias: Float32Array, x: Float32Array, dy: Float32Array): Promise<{ y: Float32Array; dx: Float32Array }> {
  const qm = quantizeWeight(w, nOut, nIn);
  const qT = Int8Array.from({ length: nOut * nIn }, (_, i) => qm.q[(i % nIn) * nOut + Math.floor(i / nIn)]!);
  const g = new GraphBuilder();
  const s = g.initializer("s", [nOut], qm.scale);
  const y = g.Add(g.Mul(int8MatMul(g, g.input("x", [M, nIn]), g.initializer("q", [nIn, nOut], qm.q, "int8")), s), g.initializer("b", [nOut], bias));
  g.output(y, "y");
  g.output(int8MatMul(g, g.Mul(g.input("dy", [M, nOut]), s), g.initializer("qT", [nOut, nIn], qT, "int8")), "dx");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const r = await c.run({ x, dy });
  await c.release();
  return { y: Float32Array.from(r["y"]!.data as Float32Array), dx: Float32Array.from(r["dx"]!.data as Float32Array) };
}

const maxRel = (a: Float32Array, ref: Float32Array) => {
  let s = 0, e = 0;
  for (let i = 0; i < ref.length; i++) { s = Math.max(s, Math.abs(ref[i]!)); e = Math.max(e, Math.abs(a[i]! - ref[i]!)); }
  return e / s;
};
const frob = (a: Float32Array, ref: Float32Array) => {
  let n = 0, d = 0;
  for (let i = 0; i < ref.length; i++) { n += (a[i]! - ref[i]!) ** 2; d += ref[i]! ** 2; }
  return Math.sqrt(n / d);
};

test("the int8 fold (int8Forward) is int8MatMul(x, q(dequant(W0q) + dW)) and dx int8MatMul(dy s', q(.)); without dW they differ", async () => {
  const { ps, qw, bias, x, r } = setup();
  int8Fold.int8Forward = true;
  const ours = await run(true).finally(() => { int8Fold.int8Forward = false; });
  const dW = snellDelta(ps, site, cfg, "snell_", cfg.sparsity); // [nIn, nOut]
  const w0 = dequantizeWeight(qw, 3 * nOut, nIn).subarray(rows[0] * nIn, rows[1] * nIn);
  const wm = Float32Array.from(w0, (v, i) => v + dW[(i % nIn) * nOut + Math.floor(i / nIn)]!);
  const b = bias.subarray(rows[0], rows[1]);
  const ref = await int8Reference(wm, b, x, r), refNoDw = await int8Reference(Float32Array.from(w0), b, x, r);
  const withDw = Math.max(maxRel(ours.out, ref.y), maxRel(ours.dx, ref.dx));
  const withoutDw = Math.min(maxRel(ours.out, refNoDw.y), maxRel(ours.dx, refNoDw.dx));
  // Float tolerance: the graph's and the host's dW differ in rounding, which can move an entry across a
  // rounding boundary of the requantization (one step, s' |x|). Measured 2026-12-04: 1.8e-7 with dW,
  // 0.32 without (and 0.28 when the fold's dW is zeroed in int8-fold.ts). The default (float32 forward)
  // has the same dx (the next test compares its forward with the float32 fold's).
  assert.ok(withDw < 1e-4, `fold vs int8MatMul(x, q(W0 + dW)): max error ${withDw} of max |y|`);
  assert.ok(withoutDw > 100 * 1e-4, `the reference without dW is only ${withoutDw} away: the test could not see dW dropped`);
});

test("the int8 fold's factor gradients are the float32 fold's (straight-through), dx within int8 error; blocked backward equal", async () => {
  const f = await run(false), q = await run(true);
  assert.ok(maxRel(q.out, f.out) < 1e-5, `default forward vs the float32 fold over dequant(W0q): ${maxRel(q.out, f.out)}`);
  assert.equal(q.dFactors.length, f.dFactors.length);
  q.dFactors.forEach((d, i) => assert.ok(maxRel(d, f.dFactors[i]!) < 1e-4, `factor gradient ${i}: ${maxRel(d, f.dFactors[i]!)}`));
  const e = frob(q.dx, f.dx);
  assert.ok(e < 0.02 && e > 1e-5, `dx int8 vs float32 fold: relative error ${e}`);
  const saved = { ...siteBlocking };
  Object.assign(siteBlocking, { blockFrom: 1, blockSize: (nIn * nOut) / 3 });
  try {
    const blocked = await run(true);
    assert.ok(maxRel(blocked.out, q.out) === 0, "the forward does not block");
    assert.ok(frob(blocked.dx, q.dx) < 0.02, `blocked dx: ${frob(blocked.dx, q.dx)}`);
    blocked.dFactors.forEach((d, i) => assert.ok(maxRel(d, q.dFactors[i]!) < 1e-4, `blocked factor gradient ${i}`));
  } finally {
    Object.assign(siteBlocking, saved);
  }
});
