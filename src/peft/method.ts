/** @file The contract every PEFT method implements: add parameters per site, rewrite the site's output. */
import type { GraphBuilder } from "../ir/builder.js";
import type { ParamBinder, ParameterStore } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import type { Rng } from "../random.js";

/** One frozen linear layer a method may adapt. q, k and v are separate sites over timm's fused qkv. */
export interface SiteInfo {
  /** Module path in timm's naming, e.g. "blocks.3.attn.q", "blocks.3.mlp.fc1", "head". */
  readonly path: string;
  readonly nIn: number;
  readonly nOut: number;
  /** Block index, null outside the blocks (head). */
  readonly block: number | null;
  /** The last path component: "q" | "k" | "v" | "proj" | "fc1" | "fc2" | ... */
  readonly kind: string;
}

/** A site's frozen linear layer. */
export interface FrozenLinear {
  /** The layer's whole weight [rows, nIn] in timm's layout (W0 of the site is `rows` of it). */
  weight: Value;
  /** Its whole bias [rows], or null. */
  bias: Value | null;
  /** The site's rows [start, end) of `weight` and `bias`: q, k and v are thirds of timm's fused qkv. */
  rows: readonly [number, number];
}

export interface AdaptContext {
  g: GraphBuilder;
  /** Values for this method's parameters (trainable ones are fed state). */
  bind: ParamBinder;
  site: SiteInfo;
  /** The site's input [..., nIn]. */
  x: Value;
  /** The frozen layer's output W0 x + b [..., nOut]. */
  y: Value;
  /**
   * The frozen layer, when the model offers it: a method may compute the site's output from it
   * (x (W0 + dW^T)^T + b) instead of adding to `y`; `y`'s product is then pruned from the graph
   * when nothing else reads it.
   */
  frozen?: () => FrozenLinear;
  /** Training graph (dropout and similar regularisers active) or eval graph. */
  train: boolean;
  /**
   * Declares a per-run graph input (a threshold, a sparsity level, a dropout seed); the caller of the
   * graph feeds it. Returns the same value when asked twice for one name.
   */
  runInput(name: string, shape: readonly number[], dtype?: "float32" | "int64"): Value;
}

/**
 * A parameter-efficient tuning method.
 *
 * @example
 * const lora: PeftMethod<LoraConfig> = { name: "lora", prefix: "lora_", ... };
 */
export interface PeftMethod<C extends { method: string }> {
  /** Lower-case id used by the CLI and written into adapter files ("snell"). */
  readonly name: C["method"];
  /** Every parameter this method adds has a last path component starting with this ("snell_"). */
  readonly prefix: string;
  readonly defaults: Omit<C, "method">;
  /** Optional: config fields accepted without a default (parsePeftConfig rejects other unknown fields). */
  readonly optionalFields?: readonly string[];
  /** Throws ConfigError naming the field. */
  validate(cfg: C): void;
  /** Adds the method's parameters for one site to the store (initialised with `rng`). */
  init(params: ParameterStore, site: SiteInfo, cfg: C, rng: Rng): void;
  /** Returns the site's new output. */
  adapt(ctx: AdaptContext, cfg: C): Value;
  /**
   * Optional: the dense update dW [nIn, nOut] (row-major) that this site's adapter adds to the frozen
   * weight in eval mode, computed from `params` (y = x (W0^T + dW) + b). Methods without it cannot be merged.
   */
  delta?(params: ParameterStore, site: SiteInfo, cfg: C): Float32Array;
  /** Optional: backbone parameters this method trains itself (BitFit: every bias; full fine-tuning: all). */
  backboneTrainable?(name: string, cfg: C): boolean;
}
