/**
 * @file merge(): folds each adapted site's dense update dW into the frozen weight (W0 + dW), giving a
 * plain backbone state dict. Each site's rows come from its backbone (ViT's q, k and v are thirds of timm's fused qkv).
 */
import { ConfigError, InternalError } from "../errors.js";
import { quantizeWeight } from "../ir/int8-matmul.js";
import { ParameterStore } from "../ir/parameters.js";
import type { BackboneConfigBase } from "../models/backbone.js";
import { int8WeightNames } from "../models/backbone-precision.js";
import { backboneOf } from "../models/registry.js";
import type { PeftModel } from "./apply.js";
import type { SiteInfo } from "./method.js";
import type { GenericPeftConfig } from "./registry.js";

/** The backbone weight a site's linear lives in, and the first output row it owns (the backbone's siteWeight). */
export function siteWeight(cfg: BackboneConfigBase, site: SiteInfo): { key: string; rowOffset: number } {
  const w = backboneOf(cfg).siteWeight(cfg, site);
  return { key: w.weight, rowOffset: w.rowOffset };
}

/** True when `pm`'s adapters can be folded into the weights (no adapted site, or the method defines `delta`). */
export function canMerge(pm: PeftModel): boolean {
  return pm.sites.length === 0 || typeof pm.method.delta === "function";
}

/** Options of `merge`. */
export interface MergeOptions {
  /**
   * Keep the backbone's int8 weights int8 (an adapted one becomes W0 + dW quantized again per output
   * channel), for an int8 inference graph. Default false: every weight float32, W0 dequantized + dW.
   */
  int8?: boolean;
}

/**
 * Dense weights of the adapted model: every backbone parameter (trained ones with their current
 * values) with W0 + dW at each adapted site, all frozen; the method's own tensors are dropped.
 * Throws ConfigError for methods whose update is not a linear change of the weights (Adapter).
 *
 * @example
 * const dense = merge(pm);   // a ParameterStore with timm keys, ready for the backbone's forward or exportOnnx
 */
export function merge(pm: PeftModel, { int8 = false }: MergeOptions = {}): ParameterStore {
  if (!canMerge(pm)) {
    throw new ConfigError(`merge: method "${pm.method.name}" defines no delta(); its adapter is not a linear update of the weights (e.g. down, GELU, up) and cannot be merged. Export the unmerged model instead (exportOnnx with merge: false)`);
  }
  const cfg = pm.config as unknown as GenericPeftConfig;
  const out = new ParameterStore();
  for (const n of pm.baseNames) {
    const p = pm.params.get(n);
    // float32 output: an int8 weight's `data` is its dequantized W0.
    if (int8) out.addFrom(p, { trainable: false });
    else out.add(n, p.shape, p.data, { trainable: false, decay: p.decay });
  }
  const copied = new Set<string>();
  const requantize = new Map<string, Float32Array>();
  for (const site of pm.sites) {
    const dW = pm.method.delta!(pm.params, site, cfg);
    if (dW.length !== site.nIn * site.nOut) {
      throw new InternalError(`merge: ${pm.method.name}.delta for "${site.path}" returned ${dW.length} values, expected nIn*nOut = ${site.nIn}*${site.nOut}`);
    }
    const { key, rowOffset } = siteWeight(pm.cfg, site);
    const w = out.get(key);
    if (w.shape.length !== 2 || w.shape[1] !== site.nIn || w.shape[0]! < rowOffset + site.nOut) {
      throw new InternalError(`merge: weight "${key}" [${w.shape.join(", ")}] does not hold site "${site.path}" (${site.nIn} -> ${site.nOut} at row ${rowOffset})`);
    }
    // Copy once: the base model shares these arrays.
    if (!copied.has(key)) {
      if (w.quantized) requantize.set(key, w.data); // dequantized into a fresh array
      else out.set(key, Float32Array.from(w.data));
      copied.add(key);
    }
    const W = requantize.get(key) ?? w.data, nIn = site.nIn, nOut = site.nOut;
    // W is [out, in] (timm); dW is [in, out].
    for (let o = 0; o < nOut; o++) {
      const row = (rowOffset + o) * nIn;
      for (let i = 0; i < nIn; i++) W[row + i]! += dW[i * nOut + o]!;
    }
  }
  // W0 + dW quantized again per output channel (its range may have grown); a float32 model's block linears quantized.
  if (int8) {
    for (const key of int8WeightNames(pm.cfg)) {
      const w = out.get(key), W = requantize.get(key) ?? (w.quantized ? null : w.data);
      if (W) out.replace(key, quantizeWeight(W, w.shape[0]!, w.shape[1]!));
    }
  }
  return out;
}
