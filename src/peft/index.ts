/** @file Public surface of the PEFT layer: applying methods, configs, the registry and each method. */
export { type AdaptContext, type PeftMethod, type SiteInfo } from "./method.js";
export { type ApplyOptions, type BaseModel, type PeftForwardOptions, PeftModel, applyAdapters, formatTrainableReport, graphRunInput } from "./apply.js";
export { type PeftConfig, parsePeftConfig } from "./config.js";
export { METHODS, type MethodName, getMethod, registerMethod, unregisterMethod } from "./registry.js";
export { type MergeOptions, merge } from "./merge.js";
export { ADAPTER_DROP_PATH_UNIT, ADAPTER_INPUT_DROPOUT, adapterDropPath, adapterInputDropout } from "./site-regularisers.js";
export { exportOnnx } from "./export.js";
export {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, type AdapterFileMeta, type AdapterFiles, type AdapterSource, applyAdapterFiles, encodeAdapter,
  parseAdapterConfig,
} from "./adapter-bytes.js";
export { loadPeftModel, readAdapterConfig } from "./adapter-io.js";
export * as snell from "./snell/index.js";
export * as snella from "./snella/index.js";
export * as lora from "./lora/index.js";
export * as adapter from "./adapter/index.js";
export * as bitfit from "./bitfit/index.js";
export * as linear from "./linear/index.js";
export * as full from "./full/index.js";
