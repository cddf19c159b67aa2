/** @file BitFit as a PEFT method: the backbone's biases become trainable; no new tensors, no graph change. */
import type { PeftMethod } from "../method.js";
import { BITFIT_DEFAULTS, validateBitfit, type BitfitConfig } from "./config.js";

/** Trains every parameter whose name ends in ".bias" (LayerNorm biases included, as the paper). */
export const bitfit: PeftMethod<BitfitConfig> = {
  name: "bitfit",
  prefix: "bitfit_",
  defaults: BITFIT_DEFAULTS,
  validate: validateBitfit,
  init() {},
  adapt: ({ y }) => y,
  backboneTrainable: (name) => name.endsWith(".bias"),
};
