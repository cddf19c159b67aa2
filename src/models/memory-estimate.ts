/**
 * @file The bytes a backbone's weights will take, counted from the config before anything is allocated, so
 * an absurd architecture (embedDim=100000) fails with one line instead of an allocation crash.
 */
import { platform } from "#platform";
import { ConfigError } from "../errors.js";
import type { BackboneConfigBase } from "./backbone.js";
import { backboneOf } from "./registry.js";

/** Number of parameters of the model (float32 each), from the shapes alone. */
export function paramCount(cfg: BackboneConfigBase): number {
  let n = 0;
  for (const p of backboneOf(cfg).paramSpecs(cfg)) n += p.shape.reduce((a, b) => a * b, 1);
  return n;
}


/**
 * Copies of the weights alive at once while a session is built: our Float32Arrays and the serialized
 * ONNX model handed to ONNX Runtime (which then holds its own). A lower bound, so it never refuses a
 * model that would fit.
 */
export const WEIGHT_COPIES = 2;

const GiB = 2 ** 30;

/**
 * Throws ConfigError when the weights alone need more than the machine's memory (`limit` bytes; by default
 * the host's, and no check where the host does not say, as in browsers).
 */
export function checkModelFits(cfg: BackboneConfigBase, name: string, limit = platform.totalMemoryBytes()): void {
  const params = paramCount(cfg);
  const bytes = params * 4 * WEIGHT_COPIES;
  if (limit !== null && bytes > limit) {
    throw new ConfigError(
      `out of memory: model ${name} (${backboneOf(cfg).describe(cfg)}) has ${(params / 1e6).toFixed(0)}M parameters, ` +
      `about ${(bytes / GiB).toFixed(1)} GiB before training starts; this machine has ${(limit / GiB).toFixed(1)} GiB`,
    );
  }
}
