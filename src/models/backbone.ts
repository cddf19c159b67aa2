/**
 * @file The Backbone seam (the contract; implemented by models/vit.ts, swin.ts, convnext.ts): what every architecture (ViT, Swin,
 * ConvNeXt) gives the rest of the library. Nothing outside src/models names an architecture
 * (test/models/backbone-seam.test.ts): consumers find the backbone of a config with backboneOf(cfg)
 * and a `--model` name with resolveVariant(name) (models/registry.ts), where each built-in registers.
 */
import type { GraphBuilder } from "../ir/builder.js";
import type { Int8Weight } from "../ir/int8-matmul.js";
import type { ParamBinder, ParameterStore } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import type { Rng } from "../random.js";
import type { RawTensor } from "./load.js";
import type { PretrainedCfg } from "./pretrained.js";

/** One frozen linear layer a method may adapt (moved here from peft/method.ts; peft re-exports it). */
export interface SiteInfo {
  /** Module path in timm's naming: "blocks.3.attn.q", "layers.1.blocks.0.mlp.fc1", "stages.2.blocks.5.mlp.fc2", "head" / "head.fc". */
  readonly path: string;
  readonly nIn: number;
  readonly nOut: number;
  /** Running block index over the whole network (for the `layers` selector), null outside blocks (head). */
  readonly block: number | null;
  /** The last path component: "q" | "k" | "v" | "proj" | "fc1" | "fc2" | "head" | "fc" ... */
  readonly kind: string;
}

/** Where a site's frozen weight lives (merge, export, fused SNELL site). */
export interface SiteWeight {
  /** Parameter name of the whole frozen weight [rows, nIn] in timm's layout. */
  weight: string;
  bias: string | null;
  /** First row of the site inside `weight` (q/k/v: thirds of the fused qkv). */
  rowOffset: number;
}

/** A site's frozen linear layer as graph values (unchanged from today's FrozenLinear). */
export interface FrozenLinear {
  /** The float32 weight [N, nIn]; null when the backbone holds it int8 (`int8`). */
  weight: Value | null;
  bias: Value | null;
  rows: readonly [number, number];
  /** The whole weight as int8 (q [nIn, N], scale [N]) under `backbonePrecision: "int8"`; rows select columns of q. */
  int8?: Int8Weight;
}

/**
 * A site's frozen layer from its parameter names: an int8 weight as `int8` (no float32 copy is bound),
 * a float32 one as `weight`.
 *
 * @example
 * const frozen = () => frozenLinearOf(bind, "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", [0, 768]);
 */
export function frozenLinearOf(bind: ParamBinder, weight: string, bias: string | null, rows: readonly [number, number]): FrozenLinear {
  const q = bind.int8(weight);
  const b = bias === null ? null : bind.get(bias);
  return q ? { weight: null, bias: b, rows, int8: q } : { weight: bind.get(weight), bias: b, rows };
}

/**
 * Called at every adaptable site with its input x [M, nIn] (rows in `samples` contiguous groups: one
 * per image for MLP sites and ViT attention, one per window for Swin attention — the unit of adapter
 * drop-path), the frozen layer's output y [M, nOut] and a builder of the frozen layer; returns the output.
 */
export type SiteHook = (site: SiteInfo, x: Value, y: Value, frozen: () => FrozenLinear, samples: number) => Value;

export interface BackboneForwardOptions {
  adapt?: SiteHook;
  /** Pooled features instead of logits. */
  features?: boolean;
  /** Backbone stochastic depth in training graphs: rates per block as timm's linspace(0, rate, depth). */
  dropPath?: { rate: number; seed: Value };
}

/** How checkpointFilter picks a layout. */
export interface LayoutOptions {
  /** The layout the user forces (`--weights-format`); unknown ones are a ConfigError. */
  source?: string;
  /** The pretrained tag's layout, used when the keys do not tell. */
  hint?: string;
  /** The file, for messages. */
  file?: string;
}

/** What every architecture config holds (each adds its own fields). */
export interface BackboneConfigBase {
  /**
   * Which registered backbone builds it ("vit", "swin", "convnext", or one a user registers).
   * Absent means "vit": configs stored before backbones had names (adapter files, checkpoints) still load.
   */
  arch?: string;
  imgSize: number;
  inChans: number;
  /** 0: no head (features). */
  numClasses: number;
}

export interface ParamSpec {
  name: string;
  shape: number[];
  init: "trunc" | "head" | "zeros" | "ones" | "cls" | string;
  /** AdamW weight decay applies (not for 1-D params, tokens, position tables). */
  decay: boolean;
}

/** Preprocessing and provenance of one pretrained tag (timm's pretrained_cfg); see models/pretrained.ts. */
export type { PretrainedCfg } from "./pretrained.js";

/** A model name resolved to the config to build (`--model NAME`, see models/registry.ts resolveVariant). */
export interface ModelVariant<C extends BackboneConfigBase = BackboneConfigBase> {
  /** Full name, "arch.tag" ("arch" alone when no pretrained tag exists), or a named model. */
  name: string;
  /** timm's architecture name ("vit_base_patch16_224", "swin_base_patch4_window7_224"). */
  arch: string;
  tag: string | null;
  config: C;
  /** Preprocessing for this tag (timm's defaults for an untagged arch); null for random-init test models. */
  pretrained: PretrainedCfg | null;
}

/** The model names one backbone answers to. */
export interface VariantSource<C extends BackboneConfigBase = BackboneConfigBase> {
  /** Every valid name (for "did you mean" lists). */
  names(): string[];
  /** The variant, or null when `name` is not one of this backbone's; ConfigError for bad overrides. */
  resolve(name: string, overrides: Readonly<Record<string, unknown>>): ModelVariant<C> | null;
}

/** One architecture: a plain object per file (models/vit.ts, models/swin.ts, models/convnext.ts), registered by `arch`. */
export interface Backbone<C extends BackboneConfigBase = BackboneConfigBase> {
  readonly arch: string;
  /** Every field of C: `--arch key=value` overrides are checked against it. */
  readonly configKeys: readonly string[];
  /** Throws ConfigError naming the first inconsistent field. */
  validate(cfg: C): void;
  /** Every parameter in timm's state-dict order, with timm's names and shapes. */
  paramSpecs(cfg: C): ParamSpec[];
  createParams(cfg: C, rng: Rng): ParameterStore;
  /** Adaptable sites in forward order. */
  sites(cfg: C): SiteInfo[];
  siteWeight(cfg: C, site: SiteInfo): SiteWeight;
  /** Module patterns adapted by default (the authors'): ViT/Swin q, k, v, proj, fc1, fc2; ConvNeXt fc1, fc2. */
  defaultTargets: readonly string[];
  /** Backbone tensors the authors train besides adapters: ViT head + cls_token; Swin head; ConvNeXt head.fc + head.norm. */
  defaultTrained: readonly string[];
  /** images [B, inChans, imgSize, imgSize] -> logits [B, numClasses] (or pooled features). */
  forward(g: GraphBuilder, bind: ParamBinder, cfg: C, images: Value, opts?: BackboneForwardOptions): Value;
  /** How a new classifier starts (recorded in run.json), e.g. timm's trunc_normal_(std=0.02). */
  readonly headInit?: string;
  /** "ViT 768x12", "Swin 128/[2,2,18,2]", "ConvNeXt [128..1024]/[3,3,27,3]" for messages. */
  describe(cfg: C): string;
  /**
   * A weight file's tensors (original releases, HF, timm) renamed and reshaped to ours, with the layout
   * it used (named in messages). Keys it cannot place pass through so the load report names them.
   * Absent: files are taken as they are ("timm"). See models/checkpoint-filter.ts for ViT's.
   */
  checkpointFilter?(raw: ReadonlyMap<string, RawTensor>, cfg: C, opts: LayoutOptions): { tensors: Map<string, RawTensor>; source: string };
  /** The layouts checkpointFilter accepts as `opts.source` (the CLI's `--weights-format` choices besides "auto"). */
  readonly checkpointLayouts?: readonly string[];
  /** The model names (timm archs and tags, named models) that build this backbone. */
  readonly variants?: VariantSource<C>;
}
