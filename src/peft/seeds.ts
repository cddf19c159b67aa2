/**
 * @file Per-step int32 seeds for the random ops a method's graph declares (dropout, drop-path): every
 * seed is a function of (run seed, step), so a resumed run draws exactly what the uninterrupted one did.
 * Seeds are int32 graph inputs because WebGPU has no int64: an int64 seed needed a Cast that ORT ran on
 * CPU. Each formula is still computed in BigInt and wrapped to its low 32 bits (two's complement), the
 * value that Cast produced, so every mask is bit-identical to the int64-fed graphs'.
 */
import { fnv1a } from "../ir/ops/random.js";
import type { MethodRuntime, RuntimeFeed } from "./method.js";

/**
 * The int32 seed feed for a seed formula's value: its low 32 bits as two's complement, what ONNX Cast
 * int64 -> int32 gives.
 *
 * @example
 * int32Seed(2n ** 32n + 5n); // Int32Array [5]
 */
export function int32Seed(v: bigint): Int32Array {
  return Int32Array.of(Number(BigInt.asIntN(32, v)));
}

/** A seed from a name's hash, the run seed and the step (used where a method has no formula of its own). */
export function hashedSeedFeed(salt: string, seed: number, step: number): Int32Array {
  return int32Seed(BigInt(seed) * 1_000_003n + BigInt(step) * 7919n + BigInt(fnv1a(salt)));
}

/** A formula giving the seed fed at optimizer step `step` of a run seeded `seed`. */
export type SeedFormula = (step: number, seed: number) => Int32Array;

/**
 * The `feeds` hook of a method whose graphs declare the given seed inputs.
 *
 * @example
 * runtime: (ctx) => ({ feeds: seedFeeds(ctx.seed, { [LORA_SEED_INPUT]: loraSeedFeed }) })
 */
export function seedFeeds(seed: number, formulas: Readonly<Record<string, SeedFormula>>): NonNullable<MethodRuntime["feeds"]> {
  return (step) => {
    const out: Record<string, RuntimeFeed> = {};
    for (const [name, f] of Object.entries(formulas)) out[name] = f(step, seed);
    return out;
  };
}
