/** @file Linear probing: re-exports, no side effects. */
export { LINEAR_DEFAULTS, validateLinear, type LinearConfig } from "./config.js";
export { linear } from "./method.js";
