/** @file Bottleneck adapter: re-exports, no side effects. */
export { ADAPTER_DEFAULTS, ADAPTER_PLACEMENTS, validateAdapter, type AdapterConfig, type AdapterPlacement } from "./config.js";
export { ADAPTER_SEED_INPUT, adapter } from "./method.js";
