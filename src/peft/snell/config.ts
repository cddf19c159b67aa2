/** @file SNELL's configuration: fields, defaults and validation (fails before any graph is built). */
import { ConfigError, unknownName } from "../../errors.js";
import type { PeftCommonConfig } from "../targets.js";

/** Kernels of the paper's Table A6; "piecewise" is SNELL's default (the authors' code). */
export const KERNELS = ["piecewise", "linear", "rbf", "sigmoid"] as const;
export type KernelName = (typeof KERNELS)[number];

/** Fields SNELL and SNELLA share. */
export interface SnellCommonConfig extends PeftCommonConfig {
  /** Rank of the factors (split evenly over the kernel groups). */
  rank: number;
  /** Fraction of dW entries zeroed per adapted matrix, in [0, 1); 0 turns sparsification off. */
  sparsity: number;
  /** Kernel applied to factor rows: piecewise (SNELL), linear (LoRA), rbf, sigmoid. */
  kernel: KernelName;
  /** Kernel groups P: the factors are [P, n, rank/P] and K sums the P group kernels. */
  groups: number;
  /** Piecewise kernel only: learn c (the paper) instead of the fixed (+0.1, -0.1, ...) of the authors' code. */
  learnableC: boolean;
  /** dW = K * max(|K| - t, 0) (paper Eq. 5) instead of the authors' K * stopgrad(|K| * [|K| > t]). */
  softThreshold: boolean;
  /** Dropout probability on the adapter input of q, k, v, fc1, fc2 (never proj); 0 turns it off. */
  dropout: number;
  /** DropPath probability on the adapter output; 0 turns it off. */
  dropPath: number;
  /**
   * Sort whole matrices for the thresholds instead of the sample bracket: slow, for the rerun after a
   * `threshold_ok` output reports a missed bracket. Absent (false) normally.
   */
  exactThreshold?: boolean;
  /**
   * Recompute dW and its large intermediates in the backward instead of keeping them from the
   * forward (the paper's "dump in forward, recover in backward"); default true.
   */
  recompute?: boolean;
}

/** SNELL: sparse kernelized LoRA ("Expanding Sparse Tuning for Low Memory Usage", Shen et al., NeurIPS 2024, https://arxiv.org/abs/2411.01800). */
export interface SnellConfig extends SnellCommonConfig {
  method: "snell";
}

/** Defaults of the authors' code: rank 8, two groups, c = (+0.1, -0.1), all six linears per block. */
export const SNELL_DEFAULTS: Omit<SnellConfig, "method"> = {
  rank: 8,
  sparsity: 0.9,
  kernel: "piecewise",
  groups: 2,
  learnableC: false,
  softThreshold: false,
  dropout: 0.1,
  dropPath: 0.1,
  targetModules: ["attn.q", "attn.k", "attn.v", "attn.proj", "mlp.fc1", "mlp.fc2"],
  modulesToSave: ["head", "cls_token"],
};

/** Checks the fields SNELL and SNELLA share; `where` is the method id used in messages. */
export function validateCommon(cfg: SnellCommonConfig, where: string): void {
  const { rank, groups, sparsity, kernel } = cfg;
  if (!(KERNELS as readonly string[]).includes(kernel)) throw unknownName(`${where}.kernel`, String(kernel), KERNELS);
  if (!Number.isInteger(rank) || rank < 1) throw new ConfigError(`${where}.rank must be a positive integer, got ${rank}`);
  if (!Number.isInteger(groups) || groups < 1) throw new ConfigError(`${where}.groups must be a positive integer, got ${groups}`);
  if (rank % groups !== 0) {
    throw new ConfigError(`${where}.rank (${rank}) must be divisible by the kernel groups (${groups}); try rank ${Math.ceil(rank / groups) * groups}`);
  }
  if (!(sparsity >= 0 && sparsity < 1)) throw new ConfigError(`${where}.sparsity must be in [0, 1), got ${sparsity}`);
  for (const f of ["dropout", "dropPath"] as const) {
    if (!(cfg[f] >= 0 && cfg[f] < 1)) throw new ConfigError(`${where}.${f} must be in [0, 1), got ${cfg[f]}`);
  }
  if (cfg.learnableC && kernel !== "piecewise") throw new ConfigError(`${where}.learnableC applies to the piecewise kernel only, got kernel "${kernel}"`);
  if (!Array.isArray(cfg.targetModules) || cfg.targetModules.length === 0) throw new ConfigError(`${where}.targetModules must list at least one module`);
}

/** Throws ConfigError naming the field. */
export function validateSnell(cfg: SnellConfig): void {
  validateCommon(cfg, "snell");
}
