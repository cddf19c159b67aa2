/** @file BitFit's configuration (Ben Zaken et al. 2021, https://arxiv.org/abs/2106.10199). */
import { ConfigError } from "../../errors.js";
import type { PeftCommonConfig } from "../targets.js";

/** BitFit trains every bias of the backbone and adds no parameters; targetModules stays empty. */
export interface BitfitConfig extends PeftCommonConfig {
  method: "bitfit";
}

/** Biases plus the head, as the VTAB-1k BitFit baseline. */
export const BITFIT_DEFAULTS: Omit<BitfitConfig, "method"> = {
  targetModules: [],
  modulesToSave: ["head"],
};

/** Throws ConfigError naming the field. */
export function validateBitfit(cfg: BitfitConfig): void {
  if (cfg.targetModules.length > 0) {
    throw new ConfigError(`bitfit.targetModules must be empty (BitFit trains every bias and adapts no module), got ${JSON.stringify(cfg.targetModules)}`);
  }
}
