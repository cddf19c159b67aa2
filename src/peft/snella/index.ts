/** @file SNELLA: re-exports, no side effects. */
export {
  SnellaAllocator, allocateBudget, scheduleBudget, sparsityInputName, type AllocMatrix, type ScheduleResult, type SnellaAllocatorState,
} from "./allocator.js";
export { SNELLA_DEFAULTS, validateSnella, type SnellaAllocatorConfig, type SnellaConfig } from "./config.js";
export { MIX_INIT, mixKernel } from "./mixk.js";
export { snella, sparsityParamName, storeSparsity } from "./method.js";
export { runAllocator, snellaRuntime } from "./runtime.js";
