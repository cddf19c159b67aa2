/** @file Full fine-tuning: re-exports, no side effects. */
export { FULL_DEFAULTS, validateFull, type FullConfig } from "./config.js";
export { full } from "./method.js";
