/**
 * @file The in-graph threshold's sample bracket against a full sort: the two order statistics it
 * selects must be exactly the sorted array's, on ties, all-equal data, values clustered at the
 * threshold, tiny sizes and s at 0 and near 1; a bracket the sample misled must say so (ok false).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GraphBuilder } from "../../src/ir/builder.js";
import { planBracket, quantilePosition, thresholdOf } from "../../src/peft/snell/index.js";
import { exactFloor, type ThresholdOptions } from "../../src/peft/snell/threshold-graph.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

const LEVELS = [0, 1e-6, 0.001, 0.3, 0.5, 0.9, 0.95, 0.999, 0.9999];

interface Got { t: number; ok: boolean; below: number; above: number }

/** One graph, one thresholdOf per level (plus the whole-sort path for t); returns both per level. */
async function thresholds(data: Float32Array, shape: [number, number], levels: readonly number[], opts: ThresholdOptions) {
  const g = new GraphBuilder("thr");
  const x = g.input("x", shape);
  levels.forEach((s, i) => {
    const r = g.scope(`s${i}`, () => thresholdOf(g, x, s, opts));
    g.output(r.t, `t${i}`); g.output(r.ok, `ok${i}`); g.output(r.below, `below${i}`); g.output(r.above, `above${i}`);
    g.output(g.scope(`exact${i}`, () => thresholdOf(g, x, s, { exact: true })).t, `exact${i}`);
  });
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const out = await c.run({ x: data });
  await c.release();
  const num = (k: string) => Number(out[k]!.data[0]);
  return levels.map((_, i) => ({
    got: { t: num(`t${i}`), ok: Boolean(out[`ok${i}`]!.data[0]), below: num(`below${i}`), above: num(`above${i}`) } as Got,
    exactT: num(`exact${i}`),
  }));
}

/**
 * Checks every level: when the bracket says it held, below and above are the sorted array's order
 * statistics at floor(s (n - 1)) and the next, and t is bit-for-bit the whole sort's. Returns how
 * many levels held.
 */
async function check(name: string, data: Float32Array, shape: [number, number], opts: ThresholdOptions, levels = LEVELS): Promise<number> {
  const sorted = Float64Array.from(data).sort();
  const n = sorted.length;
  let held = 0;
  for (const [i, { got, exactT }] of (await thresholds(data, shape, levels, opts)).entries()) {
    const s = levels[i]!;
    const { lo } = quantilePosition(n, s);
    if (!got.ok) continue;
    held++;
    assert.equal(got.below, sorted[lo], `${name}, s=${s}: order statistic ${lo}`);
    if (lo + 1 < n) assert.equal(got.above, sorted[lo + 1], `${name}, s=${s}: order statistic ${lo + 1}`);
    assert.ok(Object.is(got.t, exactT), `${name}, s=${s}: t ${got.t} vs whole sort ${exactT}`);
  }
  return held;
}

const SMALL = { sample: 2048, exactMax: 0 } as const;

/** The float32 neighbours of a float32 value. */
const f32bits = (v: number, d: number) => { const b = new Float32Array([v]), u = new Uint32Array(b.buffer); u[0]! += d; return b[0]!; };
const nextUp = (v: number) => (v === 0 ? 1e-45 : f32bits(v, 1));
const nextDown = (v: number) => (v === 0 ? 0 : f32bits(v, -1));

describe("threshold sample bracket selects the full sort's order statistics", () => {
  const rng = new Rng(11);
  const folded = (n: number) => Float32Array.from({ length: n }, () => Math.abs(rng.normal()));

  test("the bracket path applies to the test shapes", () => {
    for (const [r, c] of [[300, 200], [1, 20000], [20000, 1]] as const) assert.equal(planBracket(r, c, 0.9, SMALL).exact, false, `${r}x${c}`);
    assert.equal(planBracket(100, 200, 0.9, { sample: 128, exactMax: 0 }).exact, false);
  });

  test("random magnitudes, s from 0 to 0.9999: every level holds and matches, in one row or several", async () => {
    const data = folded(60000);
    assert.equal(await check("random", data, [300, 200], SMALL), LEVELS.length);
    assert.equal(await check("random, 8 rows", data, [300, 200], { ...SMALL, rows: 8 }), LEVELS.length);
  });

  test("kernel-like structure (|a_i b_j|, rows and columns of different scale) holds and matches", async () => {
    const a = folded(300), b = folded(200);
    const data = Float32Array.from({ length: 60000 }, (_, i) => Math.fround(a[Math.floor(i / 200)]! * b[i % 200]!));
    assert.equal(await check("outer", data, [300, 200], SMALL), LEVELS.length);
  });

  test("sorted and reverse-sorted entries hold and match (several rows: whatever holds matches)", async () => {
    const up = Float32Array.from({ length: 60000 }, (_, i) => i / 60000);
    assert.equal(await check("ascending", up, [300, 200], SMALL), LEVELS.length);
    assert.equal(await check("descending", up.slice().reverse(), [300, 200], SMALL), LEVELS.length);
    // In rows, the bracket's entries sit in one contiguous chunk, which is cut: a miss (ok false, the
    // step reruns exact), never a wrong value.
    await check("ascending, 8 rows", up, [300, 200], { ...SMALL, rows: 8 });
  });

  test("40% of entries on 8 values (runs of ties at the order statistics) hold and match", async () => {
    const data = folded(60000).map((v, i) => (i % 5 < 2 ? Math.fround(Math.floor(v * 4) / 4) : v));
    assert.equal(await check("tied", data, [300, 200], SMALL), LEVELS.length);
  });

  test("only 8 distinct values, and all values equal: whatever holds matches", async () => {
    const eight = Float32Array.from({ length: 60000 }, () => Math.floor(rng.uniform() * 8) / 8);
    await check("eight values", eight, [300, 200], SMALL);
    await check("all equal", new Float32Array(60000).fill(0.25), [300, 200], SMALL);
    await check("all zero", new Float32Array(60000), [300, 200], SMALL);
  });

  test("values clustered at the threshold: whatever holds matches, and a loose cluster holds", async () => {
    const base = folded(60000);
    const t = Float64Array.from(base).sort()[Math.floor(0.9 * 59999)]!;
    for (const [name, width, share] of [["tight", 1e-6, 0.05], ["loose", 1e-3, 0.02], ["exact ties", 0, 0.01]] as const) {
      const data = base.map((v) => (rng.uniform() < share ? Math.fround(t + width * (rng.uniform() - 0.5)) : v));
      const held = await check(name, data, [300, 200], SMALL, [0.5, 0.9, 0.95]);
      if (name === "loose") assert.equal(held, 3);
    }
  });

  test("single-row, single-column and small-sample brackets hold and match", async () => {
    assert.equal(await check("1 row", folded(20000), [1, 20000], SMALL), LEVELS.length);
    assert.equal(await check("1 column", folded(20000), [20000, 1], SMALL), LEVELS.length);
    for (let seed = 0; seed < 4; seed++) {
      assert.equal(await check(`100x200 #${seed}`, folded(20000), [100, 200], { sample: 128, exactMax: 0 }), LEVELS.length);
    }
  });

  test("a fed sparsity (sorted sample, dynamic ranks) selects the same order statistics", async () => {
    const data = folded(60000).map((v, i) => (i % 5 < 2 ? Math.fround(Math.floor(v * 4) / 4) : v));
    const sorted = Float64Array.from(data).sort();
    const g = new GraphBuilder("fed");
    const x = g.input("x", [300, 200]);
    const sIn = g.input("s", []);
    const r = thresholdOf(g, x, sIn, SMALL);
    assert.equal(r.plan.exact, false);
    g.output(r.ok, "ok"); g.output(r.below, "below"); g.output(r.above, "above");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    for (const s of [0, 0.001, 0.5, 0.9, 0.999]) {
      const out = await c.run({ x: data, s: Float32Array.of(s) });
      const { lo } = quantilePosition(60000, Math.fround(s));
      assert.ok(out.ok!.data[0], `s=${s}`);
      assert.equal(Number(out.below!.data[0]), sorted[lo], `s=${s}`);
      assert.equal(Number(out.above!.data[0]), sorted[lo + 1], `s=${s}`);
    }
    await c.release();
  });

  test("a fed s's rank position in float32/int32 ops equals float64's, next to whole numbers too", async () => {
    // s = fl32(0.7), k = 10: fl32(s·k) rounds up to 7, while s·k = 6.99999988 (floor 6).
    const rng = new Rng(5);
    for (const k of [10, 4095, 4097, 589_823, 2_359_295, 2 ** 24 - 1]) {
      const ss: number[] = [0, 1, 0.5, 0.7, 0.3, 1e-7];
      for (let i = 0; i < 200; i++) ss.push(rng.uniform());
      for (let i = 0; i < 200; i++) {
        // the float32 values next to j / k, j random: products a hair either side of a whole number
        const near = Math.fround(Math.floor(rng.uniform() * k) / k);
        ss.push(near, nextUp(near), nextDown(near));
      }
      const s = Float32Array.from(ss.filter((v) => v >= 0 && v <= 1));
      const g = new GraphBuilder("pos");
      const { q, frac } = exactFloor(g, g.input("s", [s.length]), k);
      g.output(q, "q"); g.output(frac, "frac");
      const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
      const out = await c.run({ s });
      await c.release();
      for (let i = 0; i < s.length; i++) {
        const pos = s[i]! * k, lo = Math.floor(pos); // exact in float64
        assert.equal(out.q!.data[i], lo, `k ${k}, s ${s[i]}: floor`);
        assert.equal(out.frac!.data[i], Math.fround(pos - lo), `k ${k}, s ${s[i]}: fraction`);
      }
    }
  });

  test("a sample the data misleads reports a miss instead of a wrong threshold", async () => {
    const plan = planBracket(300, 200, 0.5, SMALL);
    // Every sampled entry is large: the bracket sits far above rank s, so no candidate is right.
    const data = folded(60000).map((v, i) => (i % plan.stride === 0 ? 100 + v : v));
    const [{ got }] = await thresholds(data, [300, 200], [0.5], SMALL);
    assert.equal(got!.ok, false);
    // ... and below them: the bracket sits far below.
    const low = folded(60000).map((v, i) => (i % plan.stride === 0 ? v * 1e-6 : v + 1));
    const [{ got: g2 }] = await thresholds(low, [300, 200], [0.5], SMALL);
    assert.equal(g2!.ok, false);
  });

  test("bracket entries crowded into one candidate row (a cut row) report a miss", async () => {
    const base = folded(60000);
    const t = Float64Array.from(base).sort()[Math.floor(0.9 * 59999)]!;
    const opts = { ...SMALL, rows: 8 };
    const { rows } = planBracket(300, 200, 0.9, opts);
    assert.equal(rows, 8);
    // The first candidate row's entries all move into a narrow band around the threshold.
    const data = base.map((v, i) => (i < 60000 / rows ? Math.fround(t * (1 + 0.002 * (rng.uniform() - 0.5))) : v));
    const [{ got }] = await thresholds(data, [300, 200], [0.9], opts);
    assert.equal(got!.ok, false);
    await check("crowded row", data, [300, 200], opts, [0.5, 0.9]);
    // One row (the default) has no row to crowd.
    assert.equal(await check("one row", data, [300, 200], SMALL, [0.9]), 1);
  });

  test("a bracket holding fewer entries than the rank needs reports a miss", async () => {
    // Sampled entries in a narrow band [1, 1.001]; of the others, `under` lie below it and the rest
    // above. Rank s then falls just past the band's last entry, which only `above` < MASKED catches.
    const { stride, sampleSize: m, margin } = planBracket(300, 200, 0.5, SMALL);
    const q = Math.floor(0.5 * 59999), rLo = Math.floor(0.5 * (m - 1)) - margin;
    const under = q - rLo - 3 * margin;
    let others = 0;
    const data = Float32Array.from({ length: 60000 }, (_, i) => {
      if (i % stride === 0) return 1 + 0.001 * rng.uniform();
      return others++ < under ? 0.5 * rng.uniform() : 2 + rng.uniform();
    });
    const [{ got }] = await thresholds(data, [300, 200], [0.5], SMALL);
    assert.equal(got!.ok, false);
    await check("band", data, [300, 200], SMALL, [0.5]);
  });
});
