/**
 * @file Backbone precision: which frozen weights an int8 backbone stores as int8 (the linear layers
 * inside blocks: ViT/Swin qkv, proj, fc1, fc2; ConvNeXt's pointwise fc1, fc2), and the quantization
 * of a parameter store. Patch embedding, norms, downsampling and the head stay float32.
 */
import { ConfigError } from "../errors.js";
import { quantizeWeight } from "../ir/int8-matmul.js";
import { ParameterStore } from "../ir/parameters.js";
import type { BackboneConfigBase } from "./backbone.js";
import { backboneOf } from "./registry.js";

/** "fp32": every weight float32 (the default); "int8": frozen block linears int8 with per-channel scales. */
export type BackbonePrecision = "fp32" | "int8";

export const BACKBONE_PRECISIONS: readonly BackbonePrecision[] = ["fp32", "int8"];

/**
 * Checks a precision name (CLI, configs, library calls) with a one-line error; undefined is "fp32".
 *
 * @example
 * parseBackbonePrecision("int4"); // ConfigError: backbonePrecision: expected one of fp32, int8, got "int4"
 */
export function parseBackbonePrecision(v: unknown): BackbonePrecision {
  if (v === undefined) return "fp32";
  if (v === "fp32" || v === "int8") return v;
  throw new ConfigError(`backbonePrecision: expected one of ${BACKBONE_PRECISIONS.join(", ")}, got ${JSON.stringify(v)}`);
}

/**
 * The weights an int8 backbone keeps int8: every block site's weight (q, k, v share qkv's), in site order.
 *
 * @example
 * int8WeightNames(vitCfg); // ["blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "blocks.0.mlp.fc1.weight", ...]
 */
export function int8WeightNames(cfg: BackboneConfigBase): string[] {
  const bb = backboneOf(cfg);
  const names = bb.sites(cfg).filter((s) => s.block !== null).map((s) => bb.siteWeight(cfg, s).weight);
  return [...new Set(names)];
}

/**
 * A store with the same parameters in the same order, those named in `names` replaced by their int8
 * form (per-output-channel absmax / 127, rounded); the others are shared, not copied. A name that is
 * trainable is refused: int8 holds frozen weights only.
 *
 * @example
 * const q = quantizeParams(params, int8WeightNames(cfg)); // then drop `params` to free the float32 copies
 */
export function quantizeParams(params: ParameterStore, names: readonly string[], why = "backbonePrecision int8"): ParameterStore {
  const set = new Set(names);
  const out = new ParameterStore();
  for (const p of params.list()) {
    if (p.quantized) {
      out.addQuantized(p.name, p.shape as [number, number], p.quantized, { decay: p.decay });
      continue;
    }
    if (!set.has(p.name)) {
      out.add(p.name, p.shape, p.data, { trainable: p.trainable, decay: p.decay });
      continue;
    }
    if (p.trainable) throw new ConfigError(`${why}: "${p.name}" is trained, and int8 stores frozen weights only; use fp32`);
    if (p.shape.length !== 2) throw new ConfigError(`${why}: "${p.name}" is not a 2-D linear weight`);
    const [N, K] = p.shape as [number, number];
    out.addQuantized(p.name, [N, K], quantizeWeight(p.data, N, K), { decay: p.decay });
  }
  return out;
}
