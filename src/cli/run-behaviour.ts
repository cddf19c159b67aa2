/**
 * @file What a run did where implementations (ours over time, or ours and the authors') can differ:
 * the `behaviour` block of run.json, so a result can be traced to the semantics that produced it.
 */
import type { TransformSpec } from "../data/transforms.js";
import { RANDOM_MASK_DRAW } from "../ir/ops/random.js";
import { ADAPTER_DROP_PATH_UNIT, ADAPTER_INPUT_DROPOUT } from "../peft/site-regularisers.js";
import { snellInt8Site } from "../peft/snell/int8-fold.js";
import { FULL_SPARSITY, ZERO_SPARSITY } from "../peft/snell/sparsify.js";

/** How one preprocessing pipeline brings an image to the model. */
export interface PreprocessRecord {
  geometry: TransformSpec["geometry"]["kind"];
  /** Resampling filter of the resize (FGVC eval: bilinear, as the authors'). */
  interpolation: TransformSpec["interpolation"];
  /** Channels fed to the model; files of other channel counts are converted (grey: PIL's convert("L")). */
  channels: 1 | 3;
  mean: readonly number[];
  std: readonly number[];
}

/** The `behaviour` block of run.json. */
export interface RunBehaviour {
  format: "snell-ts/behaviour/1";
  /** Splits trained and evaluated on (FGVC: "train" as the authors' --test runs, unless trainval was asked for). */
  trainSplit: string;
  evalSplit: string;
  preprocess: { train: PreprocessRecord; eval: PreprocessRecord };
  /** Initialisation of a head that is not loaded from the weights file. */
  headInit: string;
  /** Model EMA decay (timm ModelEmaV2 over the trained tensors); null: off. */
  modelEma: number | null;
  /**
   * Semantics of the method code this run used, by name (adapter drop-path unit, dropout scheme,
   * SNELLA's s = 0 form, ...): the constants the PEFT modules export for exactly this purpose.
   */
  semantics: Record<string, unknown>;
}

/**
 * The method semantics recorded in every run.json: names of behaviours where this code base changed
 * or where it follows one reading of the authors' code.
 */
export const RUN_SEMANTICS: Readonly<Record<string, unknown>> = {
  /** Adapter drop-path keeps or drops a whole sample (timm DropPath on a (B, N, C) tensor). */
  adapterDropPathUnit: ADAPTER_DROP_PATH_UNIT,
  /** Adapter-input dropout: one mask per input value, so q, k and v share it. */
  adapterInputDropout: ADAPTER_INPUT_DROPOUT,
  /** How dropout / drop-path masks are drawn from the per-step seed (independent across sites and steps). */
  dropoutMaskDraw: RANDOM_MASK_DRAW,
  /** s = 0: SNELL's dense K, SNELLA's threshold at min |K|. */
  zeroSparsity: ZERO_SPARSITY,
  /** s = 1: dW = 0 with zero gradient. */
  fullSparsity: FULL_SPARSITY,
  /** SNELL's fused site without dropout / drop-path over an int8 backbone (`--backbone-precision int8`): the fold's form. */
  snellInt8Site: snellInt8Site(),
};

function preprocessRecord(t: TransformSpec): PreprocessRecord {
  return { geometry: t.geometry.kind, interpolation: t.interpolation, channels: t.channels ?? 3, mean: [...t.mean], std: [...t.std] };
}

/** Builds the block from what the CLI resolved for the run. */
export function runBehaviour(o: {
  trainSplit: string;
  evalSplit: string;
  transforms: { train: TransformSpec; eval: TransformSpec };
  modelEma?: number | null;
  semantics?: Record<string, unknown>;
  /** How the backbone starts a new classifier (Backbone.headInit). */
  headInit: string;
}): RunBehaviour {
  return {
    format: "snell-ts/behaviour/1", trainSplit: o.trainSplit, evalSplit: o.evalSplit,
    preprocess: { train: preprocessRecord(o.transforms.train), eval: preprocessRecord(o.transforms.eval) },
    headInit: o.headInit, modelEma: o.modelEma ?? null, semantics: { ...(o.semantics ?? {}) },
  };
}
