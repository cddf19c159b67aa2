/** @file SNELL: re-exports, no side effects. */
export { KERNELS, SNELL_DEFAULTS, validateCommon, validateSnell, type KernelName, type SnellCommonConfig, type SnellConfig } from "./config.js";
export { denseDelta, type DenseDeltaInput } from "./delta.js";
export { checkGoldenFile, runGoldenCase, type GoldenCase, type GoldenCaseResult, type GoldenReport } from "./golden.js";
export { defaultAbg, defaultC, distances, kernelMatrix, mixKernel, squaredDistances, type KernelInputs } from "./kernel.js";
export {
  SNELL_SEED_INPUT, THRESHOLD_OK, adaptSnell, buildDelta, initSnellParams, snell, snellDelta, snellParamNames, snellSeedFeed,
  type SnellBuildOptions,
} from "./method.js";
export { FULL_SPARSITY, ZERO_SPARSITY, sparsify, type SparsifyOptions, type SparsifyResult, type ZeroSparsity } from "./sparsify.js";
export { planBracket, quantile, quantilePosition, selectKth, type BracketPlan } from "./threshold.js";
export { thresholdOf, type ThresholdOptions, type ThresholdResult } from "./threshold-graph.js";
export { snellRuntime, thresholdMissed, thresholdRerun } from "./runtime.js";
