/** @file SNELLA: budget schedule and allocation against hand computations, EMA scores, the method with a fed sparsity, config errors. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import type { SiteInfo } from "../../src/peft/method.js";
import {
  SNELLA_DEFAULTS, SnellaAllocator, type SnellaAllocatorState, allocateBudget, scheduleBudget, snella, snellaRuntime, sparsityInputName, storeSparsity,
  type SnellaAllocatorConfig, type SnellaConfig,
} from "../../src/peft/snella/index.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

// Three matrices of 10, 20 and 10 entries. initSparsity 0.5: init budget 5 + 10 + 5 = 20 nonzeros;
// target sparsity 0.75: target budget 2.5 + 5 + 2.5 = 10. Warm-ups 2 and 2, total 10, interval 2.
const MATS = [{ path: "m1", nIn: 2, nOut: 5 }, { path: "m2", nIn: 4, nOut: 5 }, { path: "m3", nIn: 2, nOut: 5 }];
const ACFG: SnellaAllocatorConfig = { initSparsity: 0.5, initWarmup: 2, finalWarmup: 2, maskInterval: 2, beta1: 0.5, beta2: 0.5, unit: "step" };

describe("budget schedule (worked by hand)", () => {
  // t <= 2: initial budget 20, no reallocation. t > 10 - 2 = 8: target 10, reallocate every time.
  // Between: k = 1 - (t - 2) / (10 - 2 - 2); budget = floor(10 + 10 k^3); reallocate when t % 2 == 0.
  //   t = 3: k = 5/6, k^3 = 125/216 = 0.5787 -> 15.787 -> 15, no (3 is odd)
  //   t = 4: k = 2/3, k^3 = 8/27 = 0.2963 -> 12.963 -> 12, yes
  //   t = 5: k = 1/2, k^3 = 1/8 -> 11.25 -> 11, no
  //   t = 8: k = 0 -> 10, yes
  const rows: Array<[number, number, boolean]> = [
    [0, 20, false], [2, 20, false], [3, 15, false], [4, 12, true], [5, 11, false], [8, 10, true], [9, 10, true], [10, 10, true],
  ];
  for (const [t, budget, mask] of rows) {
    test(`position ${t}: budget ${budget}, reallocate ${mask}`, () => {
      assert.deepEqual(scheduleBudget(t, 20, 10, 10, ACFG), { budget, mask });
    });
  }
});

describe("cross-layer allocation (worked by hand)", () => {
  test("proportional, rounding leftovers to the highest score", () => {
    // scores 1:2:5 -> 0.125, 0.25, 0.625; 12 * those = 1.5, 3, 7.5 -> floor 1, 3, 7 (11);
    // 1 left; proportional shares of 1 all floor to 0, so the single entry goes to the top score, m3.
    assert.deepEqual(allocateBudget([1, 2, 5], 12, [10, 20, 10]), [1, 3, 8]);
  });
  test("capped matrices give their excess to the others", () => {
    // scores 0:0:1, budget 15: m3 wants 15, capped at 10; 5 left over m1, m2 whose scores sum to 0,
    // so equal shares floor(5/2) = 2 each -> (2, 2, 10); 1 left, shares floor(1/2) = 0, so one
    // entry to the first of the tied scores, m1 -> (3, 2, 10).
    assert.deepEqual(allocateBudget([0, 0, 1], 15, [10, 20, 10]), [3, 2, 10]);
  });
  test("all-zero scores split equally", () => {
    // 9 / 3 = 3 each
    assert.deepEqual(allocateBudget([0, 0, 0], 9, [10, 20, 10]), [3, 3, 3]);
  });
});

describe("the allocator across steps", () => {
  test("EMA sensitivity and uncertainty (beta1 = beta2 = 0.5)", () => {
    const a = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    // ipt = |2 * 3| = 6: I = 0.5 * 6 = 3, U = 0.5 * |6 - 3| = 1.5
    a.observe("m1.snella_A", [2], [3]);
    // ipt = |1 * -2| = 2: I = 0.5 * 3 + 0.5 * 2 = 2.5, U = 0.5 * 1.5 + 0.5 * |2 - 2.5| = 1.0; I * U = 2.5
    a.observe("m1.snella_A", [1], [-2]);
    // m1.snella_B: ipt 1 -> I 0.5, U 0.25 -> 0.125. Score = mean over A + mean over B = 2.625.
    a.observe("m1.snella_B", [1], [1]);
    assert.deepEqual(a.scores(), [2.625, 0, 0]);
  });
  test("steps observe, a position start reallocates on schedule, the new sparsity is fed from then on", () => {
    const a = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    assert.deepEqual(Array.from(a.feeds()[sparsityInputName("m2")]!), [0.5]);
    // Factor gradients chosen so the scores come out 1 : 2 : 5 (I * U scales with ipt^2 after one
    // observation: I = ipt/2, U = ipt/4, so ipt^2 / 8; A and B of a matrix share ipt here).
    const ipt: Record<string, number> = { m1: 2, m2: 2 * Math.SQRT2, m3: 2 * Math.sqrt(5) };
    const factor = (name: string) => ({ value: [1], grad: [ipt[name.split(".")[0]!]!] });
    a.reallocate(3); // position 3: no reallocation
    a.observeStep(factor);
    assert.deepEqual(a.sparsity(), { m1: 0.5, m2: 0.5, m3: 0.5 });
    // Scores after the second observation stay proportional to ipt^2: 4 : 8 : 20 = 1 : 2 : 5.
    a.observeStep(factor);
    const r = a.reallocate(4);
    assert.deepEqual(r, { budget: 12, mask: true });
    // allocation (1, 3, 8) as above -> sparsity 1 - 1/10, 1 - 3/20, 1 - 8/10
    const s = a.sparsity();
    assert.ok(Math.abs(s.m1! - 0.9) < 1e-12 && Math.abs(s.m2! - 0.85) < 1e-12 && Math.abs(s.m3! - 0.2) < 1e-12, JSON.stringify(s));
    assert.equal(a.feeds()[sparsityInputName("m3")]![0], Math.fround(0.2));
  });
  test("a matrix given no entries reaches s = 1, as the authors' clamp to [0, 1]", () => {
    const a = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    a.observe("m1.snella_A", [1], [1]);
    a.reallocate(9); // target budget 10 all to m1 (score > 0 only there): m1 full, m2 and m3 empty
    assert.deepEqual(a.sparsity(), { m1: 0, m2: 1, m3: 1 });
    assert.equal(a.feeds()[sparsityInputName("m2")]![0], 1);
  });
  test("exported state resumes bit for bit; state of other matrices is refused", () => {
    const grads = (step: number) => (name: string) => ({ value: [1 + step / 3], grad: [Math.sin(step + name.length) * 0.7] });
    const whole = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    const first = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    for (let t = 0; t < 5; t++) {
      for (const x of [whole, first]) { x.reallocate(t); x.observeStep(grads(t)); }
    }
    // Through JSON text, as a checkpoint stores it.
    const saved = JSON.parse(JSON.stringify(first.exportState())) as SnellaAllocatorState;
    const resumed = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    resumed.importState(saved);
    for (let t = 5; t < 9; t++) {
      for (const x of [whole, resumed]) { x.reallocate(t); x.observeStep(grads(t)); }
    }
    assert.deepEqual(resumed.sparsity(), whole.sparsity());
    assert.deepEqual(resumed.scores(), whole.scores());
    assert.deepEqual(resumed.last, whole.last);
    const other = new SnellaAllocator(MATS.slice(0, 2), 0.75, ACFG, { total: 10 });
    assert.throws(() => other.importState(saved), /3 sparsities for 2 adapted matrices/);
    assert.throws(() => resumed.importState({ ...saved, stats: { "x.snella_A": saved.stats["m1.snella_A"]! } }), /"x\.snella_A", which is not a SNELLA factor/);
  });
  test("the runtime scores |theta * grad| with theta after the step's update (the authors' update_ipt after optimizer.step())", () => {
    const sites = MATS.map((m, i) => ({ ...m, block: i, kind: "fc1" }));
    const rt = snellaRuntime({ config: { method: "snella", ...SNELLA_DEFAULTS, sparsity: 0.75, allocator: ACFG }, sites, seed: 0, epochs: 10, stepsPerEpoch: 1 });
    assert.deepEqual([...rt.fetchGrads!].slice(0, 2), ["m1.snella_A", "m1.snella_B"]);
    // Before the step m1.snella_A was 1; after it, 3. grad 2: ipt |3 * 2| = 6 (not |1 * 2| = 2).
    // beta1 = beta2 = 0.5: I = 3, U = 0.5 * |6 - 3| = 1.5, I * U = 4.5; B: after 1, grad 1 -> ipt 1, I 0.5, U 0.25 -> 0.125.
    const after: Record<string, Float32Array> = {}, grads: Record<string, Float32Array> = {};
    for (const n of rt.fetchGrads!) { after[n] = Float32Array.of(n === "m1.snella_A" ? 3 : 1); grads[n] = Float32Array.of(n.startsWith("m1") ? (n.endsWith("A") ? 2 : 1) : 0); }
    rt.afterStep!({ globalStep: 0, grads, after: (n) => after[n]! });
    const state = rt.exportState!() as SnellaAllocatorState;
    const a = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    a.importState(state);
    assert.deepEqual(a.scores(), [4.625, 0, 0]);
  });
  test("a schedule no longer than its warm-ups is refused", () => {
    assert.throws(() => new SnellaAllocator(MATS, 0.75, ACFG, { total: 4 }), /must exceed initWarmup \+ finalWarmup = 4/);
  });
});

describe("the snella method", () => {
  const site: SiteInfo = { path: "blocks.1.mlp.fc1", nIn: 6, nOut: 8, block: 1, kind: "fc1" };
  const cfg: SnellaConfig = { method: "snella", ...SNELLA_DEFAULTS, rank: 4, sparsity: 0.5 };
  test("MixK and a fed sparsity: graph output equals the plain-TS delta at that sparsity", async () => {
    const ps = new ParameterStore();
    snella.init(ps, site, cfg, new Rng(4));
    ps.set("blocks.1.mlp.fc1.snella_mix", Float32Array.of(0.7, 1.3, 0.01));
    assert.ok(ps.list().every((p) => p.name.split(".").at(-1)!.startsWith("snella_")));
    const g = new GraphBuilder();
    const bind = new ParamBinder(g, ps);
    const inputs = new Map<string, Value>();
    const runInput = (name: string, shape: readonly number[], dtype: "float32" | "int32" = "float32") =>
      inputs.get(name) ?? (inputs.set(name, g.input(name, shape, dtype)), inputs.get(name)!);
    const x = g.input("x", [2, 6]), y = g.input("y", [2, 8]);
    g.output(snella.adapt({ g, bind, site, x, y, samples: 2, train: false, runInput }, cfg), "out");
    assert.deepEqual([...inputs.keys()], [sparsityInputName(site.path)]);
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const xv = Float32Array.from({ length: 12 }, (_, i) => Math.cos(i));
    const feeds: Record<string, Float32Array> = { x: xv, y: new Float32Array(16), [sparsityInputName(site.path)]: Float32Array.of(0.75) };
    for (const p of ps.trainable()) feeds[p.name] = p.data;
    const got = (await c.run(feeds)).out!.data as Float32Array;
    await c.release();
    ps.set("blocks.1.mlp.fc1.snella_s", Float32Array.of(0.75));
    const dW = snella.delta!(ps, site, cfg);
    assert.equal(dW.filter((v) => v !== 0).length, 12); // 48 entries, quantile 0.75 -> 12 survive
    for (let b = 0; b < 2; b++) {
      for (let j = 0; j < 8; j++) {
        let want = 0;
        for (let i = 0; i < 6; i++) want += xv[b * 6 + i]! * dW[i * 8 + j]!;
        assert.ok(Math.abs(got[b * 8 + j]! - want) < 1e-5, `(${b}, ${j}): ${got[b * 8 + j]} vs ${want}`);
      }
    }
  });
  test("storeSparsity records the allocator's sparsities as frozen parameters", () => {
    const ps = new ParameterStore();
    const a = new SnellaAllocator(MATS, 0.75, ACFG, { total: 10 });
    storeSparsity(ps, a);
    assert.equal(ps.get("m2.snella_s").data[0], 0.5);
    assert.equal(ps.get("m2.snella_s").trainable, false);
  });
  test("bad allocator settings fail naming the field", () => {
    const bad = (patch: Partial<SnellaAllocatorConfig>) => () => snella.validate({ ...cfg, allocator: { ...cfg.allocator, ...patch } });
    assert.throws(bad({ beta1: 1 }), (e: Error) => e instanceof ConfigError && /allocator.beta1 must be in \(0, 1\)/.test(e.message));
    assert.throws(bad({ unit: "hour" as never }), /allocator.unit must be "step" or "epoch"/);
    assert.throws(() => snella.validate({ ...cfg, rank: 5 }), /snella.rank \(5\) must be divisible/);
  });
});
