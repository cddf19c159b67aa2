/** @file Full fine-tuning's configuration: every backbone parameter is trained. */
import { ConfigError } from "../../errors.js";
import type { PeftCommonConfig } from "../targets.js";

/** Full fine-tuning: the baseline every PEFT method is compared with. */
export interface FullConfig extends PeftCommonConfig {
  method: "full";
}

/** Everything is trained; modulesToSave is redundant but kept for a uniform config shape. */
export const FULL_DEFAULTS: Omit<FullConfig, "method"> = {
  targetModules: [],
  modulesToSave: ["head", "cls_token"],
};

/** Throws ConfigError naming the field. */
export function validateFull(cfg: FullConfig): void {
  if (cfg.targetModules.length > 0) {
    throw new ConfigError(`full.targetModules must be empty (full fine-tuning trains the weights themselves), got ${JSON.stringify(cfg.targetModules)}`);
  }
}
