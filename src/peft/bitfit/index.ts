/** @file BitFit: re-exports, no side effects. */
export { BITFIT_DEFAULTS, validateBitfit, type BitfitConfig } from "./config.js";
export { bitfit } from "./method.js";
