/** @file LoRA: re-exports, no side effects. */
export { LORA_DEFAULTS, validateLora, type LoraConfig } from "./config.js";
export { LORA_SEED_INPUT, lora, loraSeedFeed, lowRankProduct } from "./method.js";
