/** @file LoRA's configuration: fields, defaults and validation (https://arxiv.org/abs/2106.09685). */
import { ConfigError } from "../../errors.js";
import type { PeftCommonConfig } from "../targets.js";

/** LoRA: y = W0 x + b + (alpha / rank) * B A x, with A [nIn, rank] and B [rank, nOut]. */
export interface LoraConfig extends PeftCommonConfig {
  method: "lora";
  /** Rank r of the update. */
  rank: number;
  /** Scaling numerator: the update is multiplied by alpha / rank (PEFT's lora_alpha). */
  alpha: number;
  /** Dropout probability on the adapter input (training graph only); 0 turns it off. */
  dropout: number;
  /**
   * Optional drop-path on the LoRA branch's output, whole samples at a time (training graph only), as
   * the authors' LoRA baseline (their TuningModule's DropPath(0.1)); absent or 0: off.
   */
  dropPath?: number;
}

/**
 * Defaults of the SNELL reference's LoRA baseline: rank 8, scale 1 (alpha = rank), all six linears
 * of each block, head and cls_token trained.
 */
export const LORA_DEFAULTS: Omit<LoraConfig, "method"> = {
  rank: 8,
  alpha: 8,
  dropout: 0,
  targetModules: ["attn.q", "attn.k", "attn.v", "attn.proj", "mlp.fc1", "mlp.fc2"],
  modulesToSave: ["head", "cls_token"],
};

/** Throws ConfigError naming the field. */
export function validateLora(cfg: LoraConfig): void {
  if (!Number.isInteger(cfg.rank) || cfg.rank < 1) throw new ConfigError(`lora.rank must be a positive integer, got ${cfg.rank}`);
  if (!Number.isFinite(cfg.alpha) || cfg.alpha <= 0) throw new ConfigError(`lora.alpha must be a positive number, got ${cfg.alpha}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new ConfigError(`lora.dropout must be in [0, 1), got ${cfg.dropout}`);
  if (cfg.dropPath !== undefined && !(cfg.dropPath >= 0 && cfg.dropPath < 1)) throw new ConfigError(`lora.dropPath must be in [0, 1), got ${cfg.dropPath}`);
  if (cfg.targetModules.length === 0) throw new ConfigError("lora.targetModules must list at least one module");
}
