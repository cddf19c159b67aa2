/**
 * @file Per-step seeds fed as int32: the masks are bit-identical to those of the int64 feeds they
 * replaced (an int64 seed went through ONNX Cast to int32 inside the graph, a node WebGPU ran on CPU).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GraphBuilder } from "../../src/ir/builder.js";
import { fnv1a } from "../../src/ir/ops/random.js";
import { loraSeedFeed } from "../../src/peft/lora/method.js";
import { hashedSeedFeed, int32Seed } from "../../src/peft/seeds.js";
import { snellSeedFeed } from "../../src/peft/snell/method.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

/** The int64 seed formulas as they were before seeds became int32 (copied from that commit's source). */
const OLD_INT64 = {
  hashed: (salt: string, seed: number, step: number) => BigInt(seed) * 1_000_003n + BigInt(step) * 7919n + BigInt(fnv1a(salt)),
  snell: (step: number, seed: number) => BigInt(seed) * 1_000_003n + BigInt(step) + 7n,
  lora: (step: number, seed: number) => BigInt(seed) * 1_000_003n + BigInt(step),
};

// Run seeds whose formulas overflow int32 (4321 and 3000 wrap to a negative), and steps late in a run.
const RUN_SEEDS = [0, 1, 3000, 4321, 123_456_789];
const STEPS = [0, 1, 999, 250_000];

describe("int32 seed feeds", () => {
  test("each new feed is the int32 that ORT's Cast int64 -> int32 made of the old int64 seed", async () => {
    const g = new GraphBuilder();
    g.output(g.Cast(g.input("seed", [], "int64"), "int32"), "s32");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    try {
      for (const seed of RUN_SEEDS) {
        for (const step of STEPS) {
          const pairs: Array<[bigint, Int32Array]> = [
            [OLD_INT64.hashed("stochastic_depth_seed", seed, step), hashedSeedFeed("stochastic_depth_seed", seed, step)],
            [OLD_INT64.snell(step, seed), snellSeedFeed(step, seed)],
            [OLD_INT64.lora(step, seed), loraSeedFeed(step, seed)],
          ];
          for (const [old, fed] of pairs) {
            const cast = (await c.run({ seed: BigInt64Array.of(old) })).s32!.data as Int32Array;
            assert.equal(fed.length, 1);
            assert.equal(fed[0], cast[0], `seed ${seed} step ${step}: int64 ${old}`);
          }
        }
      }
    } finally {
      await c.release();
    }
  });

  test("dropout and drop-path masks from the int32 feed equal those from the old int64 feed, bit for bit", async () => {
    const g = new GraphBuilder();
    const s64 = g.input("seed64", [], "int64"), s32 = g.input("seed32", [], "int32");
    const x = g.input("x", [3, 37, 5]);
    const salt = fnv1a("blocks.0/snell_dropout");
    g.output(g.dropout(x, 0.3, s64, salt), "d64");
    g.output(g.dropout(x, 0.3, s32, salt), "d32");
    g.output(g.dropPath(x, 0.4, s64, salt), "p64");
    g.output(g.dropPath(x, 0.4, s32, salt), "p32");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const ones = new Float32Array(3 * 37 * 5).fill(1);
    let dropped = 0;
    try {
      for (const seed of RUN_SEEDS) {
        for (const step of STEPS.slice(0, 3)) {
          const r = await c.run({ x: ones, seed64: BigInt64Array.of(OLD_INT64.snell(step, seed)), seed32: snellSeedFeed(step, seed) });
          for (const k of ["d", "p"]) assert.deepEqual(r[`${k}32`]!.data, r[`${k}64`]!.data, `${k} seed ${seed} step ${step}`);
          dropped += (r.d32!.data as Float32Array).filter((v) => v === 0).length;
        }
      }
    } finally {
      await c.release();
    }
    assert.ok(dropped > 0, "the masks drop something, so equal masks are not trivially all-keep");
  });

  test("int32Seed keeps the low 32 bits as two's complement", () => {
    assert.equal(int32Seed(2n ** 32n + 5n)[0], 5);
    assert.equal(int32Seed(2n ** 31n)[0], -(2 ** 31));
    assert.equal(int32Seed(-1n)[0], -1);
  });
});
