/**
 * @file SNELLA's configuration: SNELL's fields plus MixK and the bi-level sparsity allocator
 * (Shen et al., "Expanding Sparse Tuning with kernelized LoRA and adaptive allocation", the SNELL authors' follow-up).
 */
import { ConfigError } from "../../errors.js";
import { SNELL_DEFAULTS, validateCommon, type SnellCommonConfig } from "../snell/config.js";

/** The allocator's schedule and statistics (names follow the authors' Allocator). */
export interface SnellaAllocatorConfig {
  /** Sparsity of every matrix before the first allocation, in [0, 1). */
  initSparsity: number;
  /** Length of the initial warm-up (no reallocation), in `unit`s. */
  initWarmup: number;
  /** Length of the final phase at the target budget, in `unit`s. */
  finalWarmup: number;
  /** Reallocate every this many `unit`s while the budget decreases (every unit in the final phase). */
  maskInterval: number;
  /** EMA factor of the sensitivity I = |theta * grad|, in (0, 1). */
  beta1: number;
  /** EMA factor of the uncertainty U = |I - EMA(I)|, in (0, 1). */
  beta2: number;
  /** What the schedule counts: optimizer steps, or epochs (as the authors do). */
  unit: "step" | "epoch";
}

/** SNELLA: `sparsity` is the target average sparsity the budget schedule ends at. */
export interface SnellaConfig extends SnellCommonConfig {
  method: "snella";
  allocator: SnellaAllocatorConfig;
}

/**
 * Defaults: SNELL's, plus an allocator counted in epochs for the 100-epoch VTAB-1k recipe
 * (warm-up 10, final 30, reallocation every 5 epochs, EMA factors 0.85 as AdaLoRA's).
 */
export const SNELLA_DEFAULTS: Omit<SnellaConfig, "method"> = {
  ...SNELL_DEFAULTS,
  allocator: { initSparsity: 0.5, initWarmup: 10, finalWarmup: 30, maskInterval: 5, beta1: 0.85, beta2: 0.85, unit: "epoch" },
};

/** Throws ConfigError naming the field. */
export function validateSnella(cfg: SnellaConfig): void {
  validateCommon(cfg, "snella");
  const a = cfg.allocator;
  if (!a) throw new ConfigError("snella.allocator is missing");
  if (!(a.initSparsity >= 0 && a.initSparsity < 1)) throw new ConfigError(`snella.allocator.initSparsity must be in [0, 1), got ${a.initSparsity}`);
  for (const f of ["initWarmup", "finalWarmup"] as const) {
    if (!Number.isInteger(a[f]) || a[f] < 0) throw new ConfigError(`snella.allocator.${f} must be a non-negative integer, got ${a[f]}`);
  }
  if (!Number.isInteger(a.maskInterval) || a.maskInterval < 1) throw new ConfigError(`snella.allocator.maskInterval must be a positive integer, got ${a.maskInterval}`);
  for (const f of ["beta1", "beta2"] as const) {
    if (!(a[f] > 0 && a[f] < 1)) throw new ConfigError(`snella.allocator.${f} must be in (0, 1), got ${a[f]}`);
  }
  if (a.unit !== "step" && a.unit !== "epoch") throw new ConfigError(`snella.allocator.unit must be "step" or "epoch", got "${a.unit}"`);
}
