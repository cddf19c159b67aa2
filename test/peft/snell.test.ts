/** @file SNELL: golden parity, kernel gradients, the exact threshold against torch.quantile's definition, config errors. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { grad } from "../../src/autodiff/grad.js";
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import type { SiteInfo } from "../../src/peft/method.js";
import { checkGoldenFile } from "../../src/peft/snell/golden.js";
import { SNELL_DEFAULTS, denseDelta, distances, kernelMatrix, mixKernel, planBracket, quantile, snell, sparsify, thresholdOf, type SnellConfig } from "../../src/peft/snell/index.js";
import { selectSites } from "../../src/peft/targets.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { gradCheck } from "../helpers/gradcheck.js";

/** A copy of the project's shared golden file (../shared/golden/snell_adapter.json), so the test runs from any checkout. */
const GOLDEN = fileURLToPath(new URL("../fixtures/golden/snell_adapter.json", import.meta.url));

/** torch.quantile by a full sort: below + frac * (above - below). */
function sortQuantile(values: ArrayLike<number>, s: number): number {
  const a = Float64Array.from(values).sort();
  const pos = s * (a.length - 1), lo = Math.floor(pos), frac = pos - lo;
  return frac === 0 ? a[lo]! : a[lo]! + frac * (a[lo + 1]! - a[lo]!);
}

/** Runs thresholdOf on float32 data; returns [t, ok]. */
async function graphThreshold(data: Float32Array, shape: [number, number], s: number, opts: Parameters<typeof thresholdOf>[3] & { fed?: boolean } = {}) {
  const g = new GraphBuilder("thr");
  const x = g.input("x", shape);
  const sIn = opts.fed ? g.input("s", []) : null;
  const { t, ok } = thresholdOf(g, x, sIn ?? s, opts);
  g.output(t, "t");
  g.output(ok, "ok");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const feeds: Record<string, Float32Array> = { x: data };
  if (sIn) feeds.s = Float32Array.of(s);
  const out = await c.run(feeds);
  await c.release();
  return [Number(out.t!.data[0]), Boolean(out.ok!.data[0])] as const;
}

describe("golden parity", () => {
  test("every case of the shared golden file is within 1e-5 relative in float32", async () => {
    const r = await checkGoldenFile(GOLDEN, { tol: 1e-5 });
    // the fifth case is SNELLA at s = 0: thresholded at the minimum, not SNELL's dense K
    assert.equal(r.cases.length, 5);
    for (const c of r.cases) assert.ok(c.ok, `case ${c.index}: ${JSON.stringify(c.maxErrors)}`);
    assert.ok(r.ok);
  });
});

describe("quantile (plain TS) matches torch.quantile's definition", () => {
  const rng = new Rng(3);
  const cases: Array<[string, number[]]> = [
    ["random", Array.from({ length: 101 }, () => rng.normal())],
    ["heavy ties", Array.from({ length: 64 }, (_, i) => i % 3)],
    ["constant", new Array(10).fill(0.5)],
    ["one value", [2]],
    ["two values", [3, 1]],
  ];
  for (const [name, vals] of cases) {
    test(`${name}, at s = 0, 1e-6, 0.3, 0.5, 0.999, 1`, () => {
      for (const s of [0, 1e-6, 0.3, 0.5, 0.999, 1]) assert.equal(quantile(vals, s), sortQuantile(vals, s), `s=${s}`);
    });
  }
});

describe("in-graph threshold is exact", () => {
  const rng = new Rng(5);
  const randomMag = (n: number) => Float32Array.from({ length: n }, () => Math.abs(rng.normal()));
  const tinyAndTied: Array<[string, Float32Array, [number, number]]> = [
    ["1x1", Float32Array.of(0.7), [1, 1]],
    ["1x2", Float32Array.of(0.2, 0.1), [1, 2]],
    ["2x3 with ties", Float32Array.of(1, 1, 2, 2, 2, 0), [2, 3]],
    ["16x16 random", randomMag(256), [16, 16]],
  ];
  for (const [name, data, shape] of tinyAndTied) {
    test(`whole sort, ${name}, s near 0 and 1`, async () => {
      for (const s of [0.0001, 0.25, 0.5, 0.9, 0.9999]) {
        const [t, ok] = await graphThreshold(data, shape, s);
        assert.ok(ok);
        assert.equal(t, Math.fround(sortQuantile(data, s)), `s=${s}`);
      }
    });
  }
  test("sample bracket on a 300x200 matrix agrees with the full sort, ties included", async () => {
    const n = 300 * 200;
    const plain = randomMag(n);
    // 40% of the entries share 8 values, so order statistics land inside runs of ties
    const tied = plain.map((v, i) => (i % 5 < 2 ? Math.fround(Math.floor(v * 4) / 4) : v));
    const opts = { sample: 2048, exactMax: 0 };
    assert.equal(planBracket(300, 200, 0.9, opts).exact, false);
    for (const data of [plain, tied]) {
      for (const s of [0.001, 0.5, 0.9, 0.999]) {
        const [t, ok] = await graphThreshold(data, [300, 200], s, opts);
        assert.ok(ok, `bracket missed at s=${s}`);
        assert.equal(t, Math.fround(sortQuantile(data, s)), `s=${s}`);
      }
    }
  });
  test("a fed sparsity gives the same threshold as a built-in one", async () => {
    const data = randomMag(300 * 200);
    for (const s of [0.05, 0.7]) {
      const [t, ok] = await graphThreshold(data, [300, 200], s, { sample: 2048, exactMax: 0, fed: true });
      assert.ok(ok);
      assert.equal(t, Math.fround(sortQuantile(data, Math.fround(s))));
    }
  });
});

describe("kernels match central finite differences (float64)", () => {
  const P = 2, nIn = 4, nOut = 3, h = 2;
  const AB = [{ shape: [P, nIn, h] }, { shape: [P, nOut, h] }];
  test("piecewise-linear with learnable c", async () => {
    const { maxError } = await gradCheck((g, [A, B, c]) => kernelMatrix(g, "piecewise", { A: A!, B: B!, c: c! }), [...AB, { shape: [P] }]);
    assert.ok(maxError < 1e-6, `max error ${maxError}`);
  });
  test("piecewise-linear with one coordinate per group (direct |a - b|)", async () => {
    const { maxError } = await gradCheck((g, [A, B]) => kernelMatrix(g, "piecewise", { A: A!, B: B! }), [{ shape: [P, nIn, 1] }, { shape: [P, nOut, 1] }]);
    assert.ok(maxError < 1e-6, `max error ${maxError}`);
  });
  test("linear (LoRA)", async () => {
    const { maxError } = await gradCheck((g, [A, B]) => kernelMatrix(g, "linear", { A: A!, B: B! }), AB);
    assert.ok(maxError < 1e-6, `max error ${maxError}`);
  });
  for (const k of ["rbf", "sigmoid"] as const) {
    test(`${k} with learnable alpha, beta, gamma`, async () => {
      const { maxError } = await gradCheck((g, [A, B, abg]) => kernelMatrix(g, k, { A: A!, B: B!, abg: abg! }), [...AB, { shape: [3], domain: "positive" }]);
      assert.ok(maxError < 1e-6, `max error ${maxError}`);
    });
  }
  test("SNELLA MixK over the piecewise kernel, alpha gamma beta learnable", async () => {
    const { maxError } = await gradCheck((g, [A, B, mix]) => mixKernel(g, kernelMatrix(g, "piecewise", { A: A!, B: B! }), mix!), [...AB, { shape: [3], domain: "positive" }]);
    assert.ok(maxError < 1e-6, `max error ${maxError}`);
  });
  test("soft threshold: gradient through |K| - t with t held", async () => {
    // t moves with K, but it is cut from the gradient; compare against the same function with t fed as a constant
    const { maxError } = await gradCheck((g, [K]) => g.Mul(K!, g.Relu(g.Sub(g.Abs(K!), g.scalar(0.4, "float64")))), [{ shape: [3, 4], domain: "nonzero" }]);
    assert.ok(maxError < 1e-6, `max error ${maxError}`);
  });
  test("distance gradient is 0 where two factor rows coincide, as torch.cdist", async () => {
    const g = new GraphBuilder();
    const A = g.input("A", [1, 2, 2], "float64"), B = g.input("B", [1, 2, 2], "float64");
    const d = distances(g, A, B);
    const [gA] = grad(g, g.ReduceSum(d, [0, 1, 2], 0), [A]);
    g.output(gA!, "gA");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const out = await c.run({ A: Float64Array.of(1, 2, 0, 0), B: Float64Array.of(1, 2, 3, 4) });
    const v = Array.from(out.gA!.data as Float64Array);
    await c.release();
    assert.ok(v.every(Number.isFinite), `non-finite gradient ${v}`);
    // row 0 of A equals row 0 of B: that pair contributes 0; the pair (A0, B1) gives (A0 - B1)/|A0 - B1|
    const n = Math.hypot(1 - 3, 2 - 4);
    assert.ok(Math.abs(v[0]! - (1 - 3) / n) < 1e-12 && Math.abs(v[1]! - (2 - 4) / n) < 1e-12, `${v}`);
  });
});

describe("the snell method", () => {
  const site: SiteInfo = { path: "blocks.0.attn.q", nIn: 6, nOut: 5, block: 0, kind: "q" };
  const cfg: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, rank: 4, sparsity: 0.6 };
  test("init: factor shapes, prefix, kaiming bound 1/sqrt(n * r/P)", () => {
    const ps = new ParameterStore();
    snell.init(ps, site, cfg, new Rng(1));
    const A = ps.get("blocks.0.attn.q.snell_A"), B = ps.get("blocks.0.attn.q.snell_B");
    assert.deepEqual(A.shape, [2, 6, 2]);
    assert.deepEqual(B.shape, [2, 5, 2]);
    assert.ok(A.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(6 * 2)));
    assert.ok(B.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(5 * 2)));
    assert.ok(ps.list().every((p) => p.name.split(".").at(-1)!.startsWith(snell.prefix)));
  });
  test("adapt (eval graph) gives y + x @ dW with dW equal to the plain-TS delta", async () => {
    const ps = new ParameterStore();
    snell.init(ps, site, cfg, new Rng(2));
    const g = new GraphBuilder();
    const bind = new ParamBinder(g, ps);
    const x = g.input("x", [3, 6]), y = g.input("y", [3, 5]);
    const out = snell.adapt({ g, bind, site, x, y, samples: 3, train: false, runInput: () => { throw new Error("no run input expected"); } }, cfg);
    g.output(out, "out");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const xv = Float32Array.from({ length: 18 }, (_, i) => Math.sin(i)), yv = new Float32Array(15).fill(0.5);
    const feeds: Record<string, Float32Array> = { x: xv, y: yv };
    for (const p of ps.trainable()) feeds[p.name] = p.data;
    const got = (await c.run(feeds)).out!.data as Float32Array;
    await c.release();
    const dW = snell.delta!(ps, site, cfg);
    assert.equal(dW.filter((v) => v !== 0).length, Math.round(30 * 0.4));
    for (let b = 0; b < 3; b++) {
      for (let j = 0; j < 5; j++) {
        let want = 0.5;
        for (let i = 0; i < 6; i++) want += xv[b * 6 + i]! * dW[i * 5 + j]!;
        assert.ok(Math.abs(got[b * 5 + j]! - want) < 1e-6, `(${b}, ${j}): ${got[b * 5 + j]} vs ${want}`);
      }
    }
  });
  test("the sparsified graph dW keeps the expected number of entries", async () => {
    const g = new GraphBuilder();
    const K = g.input("K", [10, 10]);
    const { dW } = sparsify(g, K, 0.9);
    g.output(dW, "dW");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const Kv = Float32Array.from({ length: 100 }, (_, i) => Math.cos(i * 1.7));
    const got = (await c.run({ K: Kv })).dW!.data as Float32Array;
    await c.release();
    // quantile at s = 0.9 of 100 values sits between order statistics 89 and 90: 10 survive
    assert.equal(got.filter((v) => v !== 0).length, 10);
  });
  test("a fed sparsity of 0 gives dW = K, and 0.5 zeroes half", async () => {
    const g = new GraphBuilder();
    const K = g.input("K", [4, 5]), s = g.input("s", []);
    g.output(sparsify(g, K, s).dW, "dW");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const Kv = Float32Array.from({ length: 20 }, (_, i) => Math.sin(i + 0.5));
    const at0 = (await c.run({ K: Kv, s: Float32Array.of(0) })).dW!.data as Float32Array;
    const at5 = (await c.run({ K: Kv, s: Float32Array.of(0.5) })).dW!.data as Float32Array;
    await c.release();
    assert.deepEqual(Array.from(at0), Array.from(Kv));
    const ref = denseDelta({ A: Array.from(Kv), B: [1], groups: 1, nIn: 20, nOut: 1, kernel: "linear", sparsity: 0.5 });
    assert.deepEqual(Array.from(at5, (v) => v + 0), Array.from(ref, (v) => v + 0)); // +0 folds -0 (K * 0 for negative K)
  });
});

describe("bad configuration fails before anything runs", () => {
  const base: SnellConfig = { method: "snell", ...SNELL_DEFAULTS };
  const cases: Array<[string, Partial<SnellConfig>, RegExp]> = [
    ["rank not divisible by the groups", { rank: 9 }, /rank \(9\) must be divisible by the kernel groups \(2\)/],
    ["sparsity 1", { sparsity: 1 }, /sparsity must be in \[0, 1\), got 1/],
    ["negative sparsity", { sparsity: -0.1 }, /sparsity must be in \[0, 1\)/],
    ["unknown kernel", { kernel: "poly" as never }, /unknown snell.kernel "poly"; expected one of piecewise, linear, rbf, sigmoid/],
    ["learnable c on a non-piecewise kernel", { kernel: "rbf", learnableC: true }, /learnableC applies to the piecewise kernel/],
  ];
  for (const [name, patch, re] of cases) {
    test(name, () => assert.throws(() => snell.validate({ ...base, ...patch }), (e: Error) => e instanceof ConfigError && re.test(e.message)));
  }
  test("a target module that matches nothing", () => {
    const sites: SiteInfo[] = [{ path: "blocks.0.attn.q", nIn: 4, nOut: 4, block: 0, kind: "q" }];
    assert.throws(() => selectSites(sites, { targetModules: ["attn.qq"] }, "snell"), /"attn.qq" matches no module/);
  });
});
