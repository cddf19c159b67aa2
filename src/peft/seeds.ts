/**
 * @file Per-step int64 seeds for the random ops a method's graph declares (dropout, drop-path): every
 * seed is a function of (run seed, step), so a resumed run draws exactly what the uninterrupted one did.
 */
import { fnv1a } from "../ir/ops/random.js";
import type { MethodRuntime, RuntimeFeed } from "./method.js";

/** A seed from a name's hash, the run seed and the step (used where a method has no formula of its own). */
export function hashedSeedFeed(salt: string, seed: number, step: number): BigInt64Array {
  return BigInt64Array.of(BigInt(seed) * 1_000_003n + BigInt(step) * 7919n + BigInt(fnv1a(salt)));
}

/** A formula giving the seed fed at optimizer step `step` of a run seeded `seed`. */
export type SeedFormula = (step: number, seed: number) => BigInt64Array;

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
