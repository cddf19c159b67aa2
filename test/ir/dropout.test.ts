/** @file Seeded dropout and drop-path: reproducible masks, keep rate, inverted scaling and gradients. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { bankValues, fnv1a, hashBits, uniforms } from "../../src/ir/ops/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { gradCheck } from "../helpers/gradcheck.js";

const N = 10_000;

/** A graph computing dropout(ones) and its gradient for ones upstream; built afresh per call. */
async function dropoutGraph(p: number, shape = [N], kind: "dropout" | "dropPath" = "dropout") {
  const g = new GraphBuilder();
  const x = g.input("x", shape);
  const seed = g.input("seed", [], "int64");
  const y = g.output(kind === "dropout" ? g.dropout(x, p, seed) : g.dropPath(x, p, seed), "y");
  const loss = g.ReduceSum(y, shape.map((_, i) => i), 0);
  g.output(grad(g, loss, [x])[0]!);
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const ones = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1);
  const run = async (s: bigint) => {
    const out = await c.run({ x: ones, seed: BigInt64Array.of(s) });
    return { y: out.y!.data as Float32Array, dx: out.x_grad!.data as Float32Array };
  };
  return { run, release: () => c.release() };
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * The hash of src/ir/ops/random.ts in plain JS numbers (every intermediate is an integer below 2^31,
 * exact in a double): ORT must reproduce it bit for bit in its int32 arithmetic.
 */
function hashRef(seed: bigint, salt: number, pos: number): number {
  const P = 32749;
  const rounds = [[[1103, 2683], [7919, 12011]], [[5417, 19997], [20021, 3571]], [[27361, 9029], [15013, 29989]]] as const;
  const outA = [22307, 6949], outC = [31337, 17393], outC2 = [4099, 26407];
  const round = (x: number[], w: number, a: readonly number[], c: readonly number[]) => {
    const sum = x[0]! + x[1]!;
    return x.map((v, l) => { const t = (v * a[l]! + w + sum) % P; return (t * t + c[l]!) % P; });
  };
  const s = Number(((seed % 2n ** 31n) + 2n ** 31n) % 2n ** 31n), u = salt >>> 0;
  const words = [u % 2 ** 15, Math.floor(u / 2 ** 15) % 2 ** 15, Math.floor(u / 2 ** 30), s % 2 ** 15, Math.floor(s / 2 ** 15) % 2 ** 15, Math.floor(s / 2 ** 30)];
  let x = [1, 2];
  words.forEach((w, i) => (x = round(x, w, rounds[i % 3]![0], rounds[i % 3]![1])));
  const sum = x[0]! + x[1]!;
  const z2 = x.map((v, l) => { const t = (v * outA[l]! + pos + 1 + sum) % P; return (t * t + outC[l]!) % P; });
  const z3 = round(z2, 0, outA, outC2);
  return z3[0]! * P + z3[1]!;
}

describe("seeded dropout", () => {
  test("the mask is a pure function of the seed: same seed, same mask, across separately compiled graphs", async () => {
    const a = await dropoutGraph(0.25), b = await dropoutGraph(0.25);
    const [m1, m2, m3] = [await a.run(7n), await a.run(7n), await b.run(7n)];
    assert.ok(same(m1.y, m2.y) && same(m1.y, m3.y));
    const other = await a.run(8n);
    const differ = other.y.filter((v, i) => v !== m1.y[i]).length;
    // independent masks at p = 0.25 disagree on 2·p·(1-p) = 37.5% of elements
    assert.ok(Math.abs(differ / N - 0.375) < 0.03, `seeds 7 and 8 differ on ${differ} of ${N}`);
    await a.release(); await b.release();
  });

  test("keeps about 1-p of the elements and scales them by 1/(1-p); the gradient is mask·scale", async () => {
    for (const p of [0.1, 0.5, 0.9]) {
      const d = await dropoutGraph(p);
      for (const seed of [0n, 123456789n, -5n]) {
        const { y, dx } = await d.run(seed);
        const kept = y.filter((v) => v !== 0).length;
        assert.ok(Math.abs(kept / N - (1 - p)) < 0.02, `p ${p} seed ${seed}: kept ${kept} of ${N}`);
        assert.ok(y.every((v) => v === 0 || Math.abs(v - 1 / (1 - p)) < 1e-6), "kept values are 1/(1-p)");
        assert.ok(same(y, dx), "d dropout(x)/dx = mask·scale");
      }
      await d.release();
    }
  });

  test("ORT computes the int32 hash exactly (matches a plain-number reference) from int64 and int32 seeds", async () => {
    const g = new GraphBuilder();
    const seed = g.input("seed", [1], "int64");
    const seed32 = g.input("seed32", [], "int32");
    g.output(hashBits(g, seed, [3, 100], 99), "h");
    g.output(hashBits(g, seed32, [7], 0xfedcba98), "h32");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const seen = new Set<number>();
    for (const s of [0n, 1n, 2n ** 40n + 3n, -77n, -(2n ** 31n), 2n ** 31n - 1n]) {
      const r = await c.run({ seed: BigInt64Array.of(s), seed32: Int32Array.of(Number(BigInt.asIntN(32, s))) });
      const h = r.h!.data as Int32Array, h32 = r.h32!.data as Int32Array;
      for (let i = 0; i < h.length; i++) { assert.equal(h[i], hashRef(s, 99, i), `seed ${s} position ${i}`); seen.add(h[i]!); }
      for (let i = 0; i < h32.length; i++) assert.equal(h32[i], hashRef(s, 0xfedcba98, i), `int32 seed ${s} position ${i}`);
    }
    // The hash reads the seed's low 31 bits, so -2^31 draws what 0 does; the other 5 seeds x 300
    // positions, hashed onto ~2^30 values, repeat none.
    assert.equal(seen.size, 5 * 300);
    await c.release();
  });

  test("the uniforms are frac(forward window + forward window) of the fixed bank, whole-row offsets hashed from (seed, salt)", async () => {
    const salt = 42;
    // n, the bank's size, and its row width: 1000 reads single entries from a 2^17 bank; 300000 reads
    // rows of 2 (width ~ sqrt(n / 2^16)) from 2^19 = 2 x (150000 rows + 2^16) rounded up
    const cases = [[1000, 2 ** 17, 1], [300_000, 2 ** 19, 2]] as const;
    const g = new GraphBuilder();
    const seed = g.input("seed", [], "int64");
    cases.forEach(([n], k) => g.output(uniforms(g, seed, n, salt), `u${k}`));
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    for (const s of [1n, 2n, -3n]) {
      const out = await c.run({ seed: BigInt64Array.of(s) });
      cases.forEach(([n, size, width], k) => {
        const u = out[`u${k}`]!.data as Float32Array, bank = bankValues(size);
        const rows = Math.ceil(n / width), starts = size / width - rows + 1;
        const o = width * (hashRef(s, salt, 0) % starts), e = width * (hashRef(s, salt, 1) % starts);
        for (let i = 0; i < n; i++) {
          const sum = bank[o + i]! + bank[e + i]!;
          assert.equal(u[i], sum >= 1 ? sum - 1 : sum, `n ${n}, seed ${s}, element ${i}`);
        }
      });
    }
    await c.release();
    assert.throws(() => g.op("SliceAt", [g.constant([1, 2, 3]), g.ints([0]), g.ints([4]), g.ints([0]), g.ints([1]), g.scalar(4, "int64")]), /length 4 outside \[0, 3\]/);
    assert.throws(() => g.op("SliceAt", [g.constant([1, 2, 3]), g.ints([0]), g.ints([2]), g.ints([0]), g.ints([2]), g.scalar(2, "int64")]), /steps must be the constant \[1\] or \[-1\]/);
  });

  test("neighbouring mask elements are uncorrelated and the bank is uniform", async () => {
    const n = 100_000;
    const d = await dropoutGraph(0.5, [n]);
    const corr = (m: Float32Array, lag: number) => {
      let sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0;
      const k = m.length - lag;
      for (let i = 0; i < k; i++) {
        const a = m[i] ? 1 : 0, b = m[i + lag] ? 1 : 0;
        sa += a; sb += b; sab += a * b; saa += a; sbb += b;
      }
      const cov = sab / k - (sa / k) * (sb / k);
      return cov / Math.sqrt((saa / k - (sa / k) ** 2) * (sbb / k - (sb / k) ** 2));
    };
    for (const seed of [0n, 99n]) {
      const { y } = await d.run(seed);
      for (const lag of [1, 2, 768]) assert.ok(Math.abs(corr(y, lag)) < 0.05, `seed ${seed} lag ${lag}: corr ${corr(y, lag)}`);
    }
    await d.release();
    const bank = bankValues(2 ** 18), bins = new Array(16).fill(0);
    for (const u of bank) { assert.ok(u >= 0 && u < 1); bins[Math.floor(u * 16)]++; }
    for (const b of bins) assert.ok(Math.abs(b / bank.length - 1 / 16) < 0.002, `bin share ${b / bank.length}`);
  });

  test("a large mask repeats no more of its values than independent draws do (a mirrored window read repeated up to half)", async () => {
    const n = 100_000;
    const g = new GraphBuilder();
    const seed = g.input("seed", [], "int64");
    g.output(uniforms(g, seed, n, 7), "u");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    // n draws on a 2^23 grid: about n^2 / 2^24 = 596 equal neighbours once sorted (Poisson, sd ~24);
    // u_i = frac(bank[o + i] + bank[e - i]) gave 606 to 48,958 over these seeds.
    for (const s of [1n, 2n, 3n, 4n, 5n, 6n]) {
      const u = Float32Array.from((await c.run({ seed: BigInt64Array.of(s) })).u!.data as Float32Array).sort();
      let equal = 0;
      for (let i = 1; i < n; i++) if (u[i] === u[i - 1]) equal++;
      assert.ok(equal < 800, `seed ${s}: ${equal} equal neighbours`);
    }
    await c.release();
  });

  test("two dropout sites fed one seed draw different masks (salt from the value name)", async () => {
    assert.notEqual(fnv1a("a"), fnv1a("b"));
    const g = new GraphBuilder();
    const seed = g.input("seed", [], "int64");
    const ones = g.input("ones", [N]);
    g.output(g.dropout(g.Identity(ones), 0.5, seed), "y1");
    g.output(g.dropout(g.Identity(ones), 0.5, seed), "y2");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const out = await c.run({ seed: BigInt64Array.of(3n), ones: new Float32Array(N).fill(1) });
    const [y1, y2] = [out.y1!.data as Float32Array, out.y2!.data as Float32Array];
    const differ = y1.filter((v, i) => v !== y2[i]).length;
    assert.ok(Math.abs(differ / N - 0.5) < 0.03, `sites differ on ${differ} of ${N}`);
    await c.release();
  });

  test("p = 0 is the identity (no nodes), and p outside [0, 1) is refused", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [4]);
    const seed = g.input("seed", [], "int64");
    assert.equal(g.dropout(x, 0, seed), x);
    assert.equal(g.dropPath(x, 0, seed), x);
    assert.equal(g.nodes.length, 0);
    assert.throws(() => g.dropout(x, 1, seed), (e: Error) => e instanceof ConfigError && /"x".*got 1/.test(e.message));
    assert.throws(() => g.dropPath(x, -0.1, seed), ConfigError);
  });

  test("gradient matches central differences (float64)", async () => {
    const { maxError, checked } = await gradCheck(
      (g, [x, s]) => g.dropout(g.Mul(x!, x!), 0.4, s!),
      [{ shape: [6, 7] }, { shape: [], values: [2024], dtype: "int64" }],
    );
    assert.equal(checked, 42);
    assert.ok(maxError < 1e-7, `max error ${maxError}`);
  });
});

/** Keep masks (as "1"/"0" strings) of dropout(ones) at p for each salt, fed `seed`. */
async function maskBits(n: number, p: number, salts: number[], seeds: bigint[]): Promise<string[][]> {
  const g = new GraphBuilder();
  const seed = g.input("seed", [], "int64");
  const ones = g.input("ones", [n]);
  salts.forEach((salt, i) => g.output(g.dropout(ones, p, seed, salt), `m${i}`));
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const out: string[][] = [];
  for (const s of seeds) {
    const r = await c.run({ seed: BigInt64Array.of(s), ones: new Float32Array(n).fill(1) });
    out.push(salts.map((_, i) => Array.from(r[`m${i}`]!.data as Float32Array, (v) => (v !== 0 ? "1" : "0")).join("")));
  }
  await c.release();
  return out;
}

/** Whether one mask's first k entries occur as a run anywhere in the other: the trace of shifted windows of one stream. */
function sharesRun(a: string, b: string, k = 64): boolean {
  return a.indexOf(b.slice(0, k)) >= 0 || b.indexOf(a.slice(0, k)) >= 0;
}

describe("independent draws across sites and steps", () => {
  const n = 2 ** 17;

  test("two sites at one step, and one site at consecutive steps, agree at chance level", async () => {
    for (const p of [0.5, 0.1]) {
      const [[a5, b5], [a6]] = await maskBits(n, p, [fnv1a("site a"), fnv1a("site b")], [5n, 6n]);
      for (const [what, x, y] of [["sites", a5!, b5!], ["steps", a5!, a6!]] as const) {
        let both = 0;
        for (let i = 0; i < n; i++) if (x[i] === "1" && y[i] === "1") both++;
        // independent masks keep an element in both with probability (1-p)^2 (sd < 0.0015 here)
        assert.ok(Math.abs(both / n - (1 - p) ** 2) < 0.01, `p ${p}, ${what}: both kept ${both / n}`);
      }
    }
  });

  test("no mask is a shifted window of another (single bank windows, the old scheme, fail this)", async () => {
    const [[a5, b5], [a6, b6]] = await maskBits(n, 0.5, [fnv1a("site a"), fnv1a("site b")], [5n, 6n]);
    for (const [x, y] of [[a5, b5], [a5, a6], [b5, b6], [a5, b6]]) assert.ok(!sharesRun(x!, y!), "masks share a 64-element run");
    // The detector on the old draw: one forward window of the bank per mask, at a hashed offset.
    const size = 2 ** 18, bank = bankValues(size);
    const old = (seed: bigint, salt: number) => {
      const o = hashRef(seed, salt, 0) % (size - n + 1);
      return Array.from(bank.subarray(o, o + n), (u) => (u >= 0.5 ? "1" : "0")).join("");
    };
    assert.ok(sharesRun(old(5n, fnv1a("site a")), old(5n, fnv1a("site b"))), "old scheme: two sites are shifted copies");
    assert.ok(sharesRun(old(5n, fnv1a("site a")), old(6n, fnv1a("site a"))), "old scheme: two steps are shifted copies");
  });
});

describe("seeded drop-path", () => {
  test("drops whole samples with probability p, reproducibly", async () => {
    const d = await dropoutGraph(0.3, [2000, 2, 3], "dropPath");
    const a = await d.run(11n), b = await d.run(11n), c = await d.run(12n);
    assert.ok(same(a.y, b.y) && !same(a.y, c.y));
    let kept = 0;
    for (let s = 0; s < 2000; s++) {
      const row = a.y.subarray(s * 6, s * 6 + 6);
      assert.ok(row.every((v) => v === row[0]), `sample ${s} is dropped or kept as a whole`);
      if (row[0] !== 0) { kept++; assert.ok(Math.abs(row[0]! - 1 / 0.7) < 1e-6); }
    }
    assert.ok(Math.abs(kept / 2000 - 0.7) < 0.04, `kept ${kept} of 2000`);
    assert.ok(same(a.y, a.dx), "gradient is mask·scale");
    await d.release();
  });

  test("gradient matches central differences (float64)", async () => {
    const { maxError } = await gradCheck(
      (g, [x, s]) => g.dropPath(x!, 0.5, s!),
      [{ shape: [8, 3] }, { shape: [1], values: [5], dtype: "int64" }],
    );
    assert.ok(maxError < 1e-7, `max error ${maxError}`);
  });
});
