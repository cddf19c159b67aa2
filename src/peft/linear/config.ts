/** @file Linear probing's configuration: only the modules to save (the head) are trained. */
import { ConfigError } from "../../errors.js";
import type { PeftCommonConfig } from "../targets.js";

/** Linear probe: the frozen backbone's features feed a trained head. */
export interface LinearConfig extends PeftCommonConfig {
  method: "linear";
}

/** The head only. */
export const LINEAR_DEFAULTS: Omit<LinearConfig, "method"> = {
  targetModules: [],
  modulesToSave: ["head"],
};

/** Throws ConfigError naming the field. */
export function validateLinear(cfg: LinearConfig): void {
  if (cfg.targetModules.length > 0) {
    throw new ConfigError(`linear.targetModules must be empty (a linear probe adapts no module), got ${JSON.stringify(cfg.targetModules)}`);
  }
  if (cfg.modulesToSave.length === 0) throw new ConfigError(`linear.modulesToSave must name at least the head`);
}
