/** @file Full fine-tuning as a PEFT method: every backbone parameter becomes trainable, the graph is unchanged. */
import type { PeftMethod } from "../method.js";
import { FULL_DEFAULTS, validateFull, type FullConfig } from "./config.js";

/** Trains everything. */
export const full: PeftMethod<FullConfig> = {
  name: "full",
  prefix: "full_",
  defaults: FULL_DEFAULTS,
  validate: validateFull,
  init() {},
  adapt: ({ y }) => y,
  backboneTrainable: () => true,
};
