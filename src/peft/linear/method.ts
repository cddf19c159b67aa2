/** @file Linear probing as a PEFT method: nothing added, nothing in the backbone trained but the modules to save. */
import type { PeftMethod } from "../method.js";
import { LINEAR_DEFAULTS, validateLinear, type LinearConfig } from "./config.js";

/** Trains `modulesToSave` (default: the head) on frozen features. */
export const linear: PeftMethod<LinearConfig> = {
  name: "linear",
  prefix: "linear_",
  defaults: LINEAR_DEFAULTS,
  validate: validateLinear,
  init() {},
  adapt: ({ y }) => y,
};
