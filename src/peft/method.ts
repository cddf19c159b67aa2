/** @file The contract every PEFT method implements: add parameters per site, rewrite the site's output. */
import type { GraphBuilder } from "../ir/builder.js";
import type { ParamBinder, ParameterStore } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import type { Rng } from "../random.js";

// Sites belong to the model (models/backbone.ts); re-exported so peft imports keep working.
import type { FrozenLinear, SiteInfo } from "../models/backbone.js";
export type { FrozenLinear, SiteInfo } from "../models/backbone.js";

export interface AdaptContext {
  g: GraphBuilder;
  /** Values for this method's parameters (trainable ones are fed state). */
  bind: ParamBinder;
  site: SiteInfo;
  /** The site's input [..., nIn]. */
  x: Value;
  /**
   * The rows of `x` and `y` come in this many equal contiguous groups, one per sample: the batch's
   * images for a ViT ([B*T, n]: T rows each); a window-attention backbone gives its windows. Adapter
   * drop-path keeps or drops a group whole (see ADAPTER_DROP_PATH_UNIT in site-regularisers.ts).
   */
  samples: number;
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
  runInput(name: string, shape: readonly number[], dtype?: "float32" | "int32"): Value;
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
  /**
   * Optional: the method's part of a training run (feeds before a step, work after it, state it
   * saves). The trainer calls these and knows no method by name; see `MethodRuntime`.
   */
  runtime?(ctx: RuntimeContext<C>): MethodRuntime;
}

/** A float32 or int32 graph feed (what `MethodRuntime.feeds` returns; seeds are int32, see seeds.ts). */
export type RuntimeFeed = Float32Array | Int32Array;

/** What a method's runtime is told about the run when it is created. */
export interface RuntimeContext<C> {
  config: C;
  /** Adapted sites, in forward order. */
  sites: readonly SiteInfo[];
  /** The run's seed: every feed must be a function of (seed, step) so a resumed run matches. */
  seed: number;
  epochs: number;
  stepsPerEpoch: number;
}

/** What the trainer hands `afterStep`: the step's gradients and the values after the update. */
export interface StepReport {
  /** 0-based index of the optimizer step just taken. */
  globalStep: number;
  /** Gradients of the names in `fetchGrads` (before clipping's effect on the update is applied). */
  grads: Readonly<Record<string, Float32Array>>;
  /** A trainable tensor's value after this step's optimizer update. */
  after(name: string): Float32Array;
}

/**
 * A method's hooks into the training loop. Every member is optional; a method without a runtime
 * feeds nothing and keeps no state.
 *
 * @example
 * // SNELLA: feed each matrix's sparsity, observe |theta * grad| after each step, reallocate at each epoch start.
 * runtime: (ctx) => new SnellaRuntime(ctx)
 */
export interface MethodRuntime {
  /** Feeds for run inputs the method's graphs declare, before optimizer step `step` (0-based) or an eval after it. */
  feeds?(step: number): Record<string, RuntimeFeed>;
  /** Trainable tensors whose raw gradients `afterStep` needs. */
  readonly fetchGrads?: readonly string[];
  /** Before the first step of epoch `epoch` (not called when a resume starts mid-epoch). */
  beginEpoch?(epoch: number): void;
  /** Before optimizer step `step` (0-based, global). */
  beginStep?(step: number): void;
  /** After each optimizer step. */
  afterStep?(r: StepReport): void;
  /**
   * A step whose outputs make this true is rerun from the same state with a model built from
   * `rerun.config` (SNELL: a threshold sample bracket that missed, rerun with exact thresholds).
   */
  readonly rerun?: { needed(outputs: Readonly<Record<string, ArrayLike<number | boolean>>>): boolean; config: { method: string } };
  /** Copies run-time state into the parameter store before an adapter is saved or merged (SNELLA's sparsities). */
  storeInto?(params: ParameterStore): void;
  /** Numbers to add to each epoch's log record. */
  epochFields?(): Record<string, number>;
  /** JSON state saved in training checkpoints and given back to `importState` on resume. */
  exportState?(): unknown;
  importState?(state: unknown): void;
}
