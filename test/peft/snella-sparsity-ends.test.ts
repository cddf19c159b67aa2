/**
 * @file The sparsity's ends: SNELLA at s = 0 stays thresholded (only the smallest |K| zeroed) where
 * SNELL swaps in plain K; at s = 1 a fed sparsity gives dW = 0 and zero, finite gradients, on the
 * whole-sort path and on the sample bracket, and the bracket holds there (no forced exact rerun).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import type { SiteInfo } from "../../src/peft/method.js";
import { SNELL_DEFAULTS, denseDelta, quantile, snell, snellParamNames, sparsify, type SnellConfig } from "../../src/peft/snell/index.js";
import { FULL_SPARSITY, ZERO_SPARSITY } from "../../src/peft/snell/sparsify.js";
import { SNELLA_DEFAULTS, snella, sparsityInputName, type SnellaConfig } from "../../src/peft/snella/index.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

/** Feeds for a store's trainable tensors (graph inputs; frozen ones are initializers). */
const trainableFeeds = (ps: ParameterStore) => Object.fromEntries(ps.trainable().map((p) => [p.name, p.data]));

const site: SiteInfo = { path: "blocks.0.mlp.fc1", nIn: 6, nOut: 8, block: 0, kind: "fc1" };

/** dW of one site as the graph builds it: the eval adapter on x = I (rows of the identity), y = 0; s fed. */
async function graphDelta(method: "snell" | "snella", s: number, rng: Rng): Promise<{ dW: Float32Array; ps: ParameterStore }> {
  const ps = new ParameterStore();
  const g = new GraphBuilder();
  const bind = new ParamBinder(g, ps);
  const x = g.input("x", [site.nIn, site.nIn]), y = g.input("y", [site.nIn, site.nOut]);
  const runInput = (name: string, shape: readonly number[], dtype: "float32" | "int32" = "float32") => g.input(name, shape, dtype);
  if (method === "snell") {
    const cfg: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, sparsity: s };
    snell.init(ps, site, cfg, rng);
    g.output(snell.adapt({ g, bind, site, x, y, samples: site.nIn, train: false, runInput }, cfg), "out");
  } else {
    const cfg: SnellaConfig = { method: "snella", ...SNELLA_DEFAULTS };
    snella.init(ps, site, cfg, rng);
    ps.set(snellParamNames(site, "snella_").mix, Float32Array.of(0.7, 1.3, 0.01));
    g.output(snella.adapt({ g, bind, site, x, y, samples: site.nIn, train: false, runInput }, cfg), "out");
  }
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const eye = new Float32Array(site.nIn * site.nIn).map((_, i) => (i % (site.nIn + 1) === 0 ? 1 : 0));
  const feeds: Record<string, Float32Array> = { ...trainableFeeds(ps), x: eye, y: new Float32Array(site.nIn * site.nOut) };
  if (method === "snella") feeds[sparsityInputName(site.path)] = Float32Array.of(s);
  const dW = (await c.run(feeds)).out!.data as Float32Array;
  await c.release();
  return { dW, ps };
}

/** K of a site (dense, with MixK for SNELLA) in float64 from its stored factors. */
function kernelOf(ps: ParameterStore, prefix: string, mix: boolean): Float32Array {
  const n = snellParamNames(site, prefix);
  return denseDelta({
    A: ps.get(n.A).data, B: ps.get(n.B).data, groups: SNELL_DEFAULTS.groups, nIn: site.nIn, nOut: site.nOut,
    kernel: "piecewise", mix: mix ? ps.get(n.mix).data : undefined, sparsity: 0, atZero: "dense",
  });
}

describe("s = 0", () => {
  test("SNELLA zeroes only the smallest |K| and gives K |K| elsewhere (the authors' SNELLA.sparsify)", async () => {
    const { dW, ps } = await graphDelta("snella", 0, new Rng(1));
    const K = kernelOf(ps, "snella_", true);
    let argmin = 0;
    for (let i = 1; i < K.length; i++) if (Math.abs(K[i]!) < Math.abs(K[argmin]!)) argmin = i;
    for (let i = 0; i < K.length; i++) {
      const want = i === argmin ? 0 : K[i]! * Math.abs(K[i]!);
      assert.ok(Math.abs(dW[i]! - want) <= 1e-5 * Math.max(1, Math.abs(want)), `entry ${i}: ${dW[i]} vs ${want}`);
    }
    assert.equal(dW.filter((v) => v === 0).length, 1);
    assert.equal(ZERO_SPARSITY.snella, "threshold");
  });

  test("SNELL keeps plain K (the authors' KLoRA when init_thres is 0)", async () => {
    const { dW, ps } = await graphDelta("snell", 0, new Rng(2));
    const K = kernelOf(ps, "snell_", false);
    for (let i = 0; i < K.length; i++) assert.ok(Math.abs(dW[i]! - K[i]!) <= 1e-5 * Math.max(1, Math.abs(K[i]!)), `entry ${i}`);
    assert.equal(ZERO_SPARSITY.snell, "dense");
  });

  test("merging (plain TS) agrees with the graph: SNELLA's delta at s = 0 is thresholded", async () => {
    const { dW, ps } = await graphDelta("snella", 0, new Rng(3));
    ps.set(`${site.path}.snella_s`, Float32Array.of(0));
    const merged = snella.delta!(ps, site, { method: "snella", ...SNELLA_DEFAULTS });
    for (let i = 0; i < dW.length; i++) assert.ok(Math.abs(merged[i]! - dW[i]!) <= 1e-5 * Math.max(1, Math.abs(dW[i]!)), `entry ${i}`);
  });
});

/**
 * sparsify(K, s fed, SNELLA's form) on an [rows, cols] K and the gradient of sum(dW * R) by K, for
 * each fed s; returns dW, dK, t-derived survivor counts and the bracket flag.
 */
async function fedSparsify(rows: number, cols: number, levels: number[], soft = false) {
  const rng = new Rng(rows + cols);
  const Kv = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const Rv = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const g = new GraphBuilder();
  const K = g.input("K", [rows, cols]), R = g.input("R", [rows, cols]), s = g.input("s", []);
  const { dW, ok } = sparsify(g, K, s, { atZero: "threshold", soft });
  const [dK] = grad(g, g.ReduceSum(g.Mul(dW, R), [0, 1], 0), [K]);
  g.output(dW, "dW"); g.output(dK!, "dK");
  if (ok) g.output(ok, "ok");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const out = [];
  for (const level of levels) {
    const r = await c.run({ K: Kv, R: Rv, s: Float32Array.of(level) });
    out.push({ level, dW: r.dW!.data as Float32Array, dK: r.dK!.data as Float32Array, ok: r.ok ? Boolean(r.ok.data[0]) : true });
  }
  await c.release();
  return { Kv, out };
}

describe("s = 1 (a fed sparsity may reach it, as the authors' allocator)", () => {
  for (const [what, rows, cols] of [["whole sort", 12, 20], ["sample bracket", 256, 768]] as const) {
    test(`${what}: dW = 0 and the gradient is 0, with no NaN; s just below 1 matches torch.quantile's definition`, async () => {
      const levels = [1, Math.fround(0.9999), Math.fround(0.999)];
      const { Kv, out } = await fedSparsify(rows, cols, levels);
      const mag = Float64Array.from(Kv, Math.abs);
      for (const { level, dW, dK, ok } of out) {
        assert.ok(ok, `s ${level}: the bracket held (s = 1 must not force the exact rerun)`);
        assert.ok(dW.every(Number.isFinite) && dK.every(Number.isFinite), `s ${level}: finite`);
        const t = quantile(mag, level);
        const want = mag.filter((m) => m > t).length;
        assert.equal(dW.filter((v) => v !== 0).length, want, `s ${level}: survivors`);
        if (level === 1) {
          assert.equal(want, 0);
          assert.ok(dK.every((v) => v === 0), "s = 1: zero gradient");
        }
      }
    });
  }

  test("soft threshold at s = 1: dW = 0 and a zero gradient too", async () => {
    const { out } = await fedSparsify(12, 20, [1], true);
    assert.ok(out[0]!.dW.every((v) => v === 0) && out[0]!.dK.every((v) => v === 0));
  });

  test("a SNELLA site at s = 1 leaves y unchanged and gives A, B and MixK zero gradients", async () => {
    const cfg: SnellaConfig = { method: "snella", ...SNELLA_DEFAULTS };
    const ps = new ParameterStore();
    snella.init(ps, site, cfg, new Rng(4));
    const g = new GraphBuilder();
    const bind = new ParamBinder(g, ps);
    const x = g.input("x", [5, site.nIn]), y = g.input("y", [5, site.nOut]);
    const out = snella.adapt({ g, bind, site, x, y, samples: 5, train: false, runInput: (n, sh, dt) => g.input(n, sh, dt) }, cfg);
    const names = snellParamNames(site, "snella_");
    const wrt = [names.A, names.B, names.mix].map((n) => bind.get(n));
    const grads = grad(g, g.ReduceSum(g.Mul(out, out), [0, 1], 0), wrt);
    g.output(out, "out");
    grads.forEach((d, i) => g.output(d!, `g${i}`));
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const rng = new Rng(5);
    const yv = Float32Array.from({ length: 5 * site.nOut }, () => rng.normal());
    const r = await c.run({ ...trainableFeeds(ps), x: Float32Array.from({ length: 5 * site.nIn }, () => rng.normal()), y: yv, [sparsityInputName(site.path)]: Float32Array.of(1) });
    await c.release();
    assert.deepEqual(Array.from(r.out!.data as Float32Array), Array.from(yv));
    for (let i = 0; i < 3; i++) assert.ok((r[`g${i}`]!.data as Float32Array).every((v) => v === 0), `gradient ${i} is 0`);
    assert.equal(FULL_SPARSITY, "zero-update");
  });
});

describe("against the authors' SNELLA.sparsify (fixture from scripts/torch/make_snella_ends_fixture.py)", () => {
  const fx = JSON.parse(readFileSync(new URL("../fixtures/snella-sparsity-ends.json", import.meta.url), "utf8")) as {
    rows: number; cols: number; K: number[]; R: number[]; cases: { s: number; dW: number[]; dK: number[] }[];
  };
  test("s = 0 and s = 1: dW and the gradient by K agree in float32", async () => {
    const g = new GraphBuilder();
    const K = g.input("K", [fx.rows, fx.cols]), R = g.input("R", [fx.rows, fx.cols]), s = g.input("s", []);
    const { dW } = sparsify(g, K, s, { atZero: ZERO_SPARSITY.snella });
    const [dK] = grad(g, g.ReduceSum(g.Mul(dW, R), [0, 1], 0), [K]);
    g.output(dW, "dW"); g.output(dK!, "dK");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    for (const cs of fx.cases) {
      const r = await c.run({ K: Float32Array.from(fx.K), R: Float32Array.from(fx.R), s: Float32Array.of(cs.s) });
      for (const f of ["dW", "dK"] as const) {
        const got = r[f]!.data as Float32Array;
        cs[f].forEach((want, i) => assert.ok(Math.abs(got[i]! - want) <= 1e-5 * Math.max(1, Math.abs(want)), `s ${cs.s} ${f}[${i}]: ${got[i]} vs ${want}`));
      }
    }
    await c.release();
  });
});
