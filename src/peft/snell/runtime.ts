/**
 * @file SNELL's part of a training run: the dropout seed it feeds, and the rerun of a step whose
 * threshold sample bracket missed (from the same state, with exact sorted thresholds).
 */
import type { MethodRuntime, RuntimeContext } from "../method.js";
import { seedFeeds } from "../seeds.js";
import type { SnellCommonConfig } from "./config.js";
import { SNELL_SEED_INPUT, snellSeedFeed, THRESHOLD_OK } from "./method.js";

/** Whether any threshold flag in a step's outputs is false (the step must be rerun with exact thresholds). */
export function thresholdMissed(outputs: Readonly<Record<string, ArrayLike<number | boolean>>>): boolean {
  for (const [k, v] of Object.entries(outputs)) if (k.endsWith(THRESHOLD_OK) && !v[0]) return true;
  return false;
}

/** The rerun hook of SNELL and SNELLA: none when the config already uses exact thresholds. */
export function thresholdRerun<C extends SnellCommonConfig & { method: string }>(config: C): MethodRuntime["rerun"] {
  return config.exactThreshold ? undefined : { needed: thresholdMissed, config: { ...config, exactThreshold: true } };
}

/** SNELL's runtime hooks. */
export function snellRuntime<C extends SnellCommonConfig & { method: string }>(ctx: RuntimeContext<C>): MethodRuntime {
  const rerun = thresholdRerun(ctx.config);
  return { feeds: seedFeeds(ctx.seed, { [SNELL_SEED_INPUT]: snellSeedFeed }), ...(rerun ? { rerun } : {}) };
}
