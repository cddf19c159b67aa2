/**
 * @file applyAdapters: turns a frozen backbone into a PeftModel (HF PEFT's get_peft_model): selects the
 * sites, lets the method add its tensors, marks what trains, and builds the adapted forward.
 */
import { platform } from "#platform";
import { ConfigError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { ParameterStore, type ParamBinder } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import type { BackboneConfigBase } from "../models/backbone.js";
import { backboneOf } from "../models/registry.js";
import { int8WeightNames, parseBackbonePrecision, quantizeParams, type BackbonePrecision } from "../models/backbone-precision.js";
import { Rng } from "../random.js";
import { loadAdapterFiles, saveAdapterFiles } from "./adapter-io.js";
import { parsePeftConfig, type PeftConfig } from "./config.js";
import type { AdaptContext, SiteInfo } from "./method.js";
import { backboneDefaults, defaultTrainedFor } from "./backbone-defaults.js";
import { checkCreated, getMethod, type AnyPeftMethod, type GenericPeftConfig } from "./registry.js";
import { matchModulesToSave, selectSites } from "./targets.js";

/** A backbone as the model code creates it: any registered architecture's config (models/registry.ts) and its tensors. */
export interface BaseModel {
  cfg: BackboneConfigBase;
  params: ParameterStore;
  /** Checkpoint tag written into adapter files ("vit_base_patch16_224.orig_in21k"); loading refuses a different one. */
  name?: string;
}

/** Options of `applyAdapters`. */
export interface ApplyOptions {
  /** Seeds the method's tensors; default 0. */
  seed?: number;
  /**
   * "int8": the backbone's frozen block linears (qkv, proj, fc1, fc2) are stored int8 with per-channel
   * scales and run through int8Linear; their float32 copies are not kept (drop the base store to free
   * them). Methods that train those weights (full fine-tuning) are refused. Default "fp32".
   */
  backbonePrecision?: BackbonePrecision;
}

/** Options of `PeftModel.forward`. */
export interface PeftForwardOptions {
  /** Training graph (dropout and similar active); default false. */
  train?: boolean;
  /** Declares per-run inputs; default: a graph input of that name, declared once per graph. */
  runInput?: AdaptContext["runInput"];
  /** Return pooled features instead of logits. */
  features?: boolean;
  /**
   * Stochastic depth of the backbone's blocks in training graphs (timm's drop_path_rate; the SNELL
   * scripts train with 0.1): as timm, rates rise linearly over the blocks from 0 to `stochasticDepth`.
   * Its masks hash the int32 run input `stochastic_depth_seed`. Default 0.
   */
  stochasticDepth?: number;
}

/** Run input seeding the backbone's stochastic depth (see `PeftForwardOptions.stochasticDepth`). */
export const STOCHASTIC_DEPTH_SEED_INPUT = "stochastic_depth_seed";

const runInputs = new WeakMap<GraphBuilder, Map<string, Value>>();

/** The default `runInput`: one graph input per name and graph. */
export function graphRunInput(g: GraphBuilder): AdaptContext["runInput"] {
  return (name, shape, dtype = "float32") => {
    let m = runInputs.get(g);
    if (!m) runInputs.set(g, (m = new Map()));
    const hit = m.get(name);
    if (hit) {
      if (hit.shape.join() !== shape.join() || hit.dtype !== dtype) {
        throw new ConfigError(`run input "${name}" declared twice with different shapes: [${hit.shape.join(", ")}]:${hit.dtype} and [${shape.join(", ")}]:${dtype}`);
      }
      return hit;
    }
    const v = g.input(name, shape, dtype);
    m.set(name, v);
    return v;
  };
}

/** HF PEFT's print_trainable_parameters line: "trainable params: 1,234 || all params: 5,678 || trainable%: 21.7330". */
export function formatTrainableReport(trainable: number, all: number): string {
  const pct = all === 0 ? 0 : (100 * trainable) / all;
  return `trainable params: ${trainable.toLocaleString("en-US")} || all params: ${all.toLocaleString("en-US")} || trainable%: ${pct.toFixed(4)}`;
}

/** sha256 over the sorted (name, shape) list of the backbone's parameters: same architecture and keys, same fingerprint. */
export function fingerprintParams(params: readonly { name: string; shape: readonly number[] }[]): string {
  const list = params.map((p) => `${p.name}:${p.shape.join("x")}`).sort();
  return `sha256:${platform.sha256Hex(new TextEncoder().encode(list.join("\n")))}`;
}

/**
 * A backbone with adapters. `params` holds the backbone (tensors shared with the base store, which is
 * left untouched) and the method's tensors; `trainable` flags say what the trainer updates.
 */
export class PeftModel {
  /** @internal Use `applyAdapters`. */
  constructor(
    readonly cfg: BackboneConfigBase,
    readonly params: ParameterStore,
    readonly config: PeftConfig,
    readonly method: AnyPeftMethod,
    /** Adapted sites, in forward order. */
    readonly sites: readonly SiteInfo[],
    /** Backbone parameter names (timm keys), in the base store's order. */
    readonly baseNames: readonly string[],
    /** Tensors the method created, in creation order. */
    readonly addedNames: readonly string[],
    readonly baseName: string | null,
  ) {}

  /**
   * Builds logits [B, numClasses] (or features) for `images` [B, C, H, W] with every selected site
   * rewritten by the method. `bind` must bind this model's `params`.
   */
  forward(g: GraphBuilder, bind: ParamBinder, images: Value, { train = false, runInput, features, stochasticDepth = 0 }: PeftForwardOptions = {}): Value {
    if (bind.params !== this.params) throw new ConfigError("PeftModel.forward: `bind` binds another ParameterStore; create it with new ParamBinder(g, peftModel.params)");
    const sites = new Set(this.sites.map((s) => s.path));
    const ri = runInput ?? graphRunInput(g);
    const cfg = this.config as unknown as GenericPeftConfig;
    if (!(stochasticDepth >= 0 && stochasticDepth < 1)) throw new ConfigError(`PeftModel.forward: stochasticDepth must be in [0, 1), got ${stochasticDepth}`);
    const backbone = backboneOf(this.cfg);
    // The first block's rate is 0, so one block has nothing to drop: declare no seed then.
    const blocks = new Set(backbone.sites(this.cfg).map((s) => s.block).filter((b) => b !== null)).size;
    return backbone.forward(g, bind, this.cfg, images, {
      features,
      ...(train && stochasticDepth > 0 && blocks > 1 ? { dropPath: { rate: stochasticDepth, seed: ri(STOCHASTIC_DEPTH_SEED_INPUT, [], "int32") } } : {}),
      // The backbone says how the rows group (images; a window-attention backbone's windows).
      // An int8 frozen layer comes as FrozenLinear.int8 (no float32 weight): SNELL folds into it (snell/int8-fold.ts).
      adapt: (site, x, y, frozen, samples) => (sites.has(site.path)
        ? this.method.adapt({ g, bind, site, x, y, frozen, train, runInput: ri, samples }, cfg)
        : y),
    });
  }

  /** "int8" when the backbone's frozen linears are stored int8 (see `ApplyOptions.backbonePrecision`). */
  get backbonePrecision(): BackbonePrecision {
    return this.baseNames.some((n) => this.isInt8(n)) ? "int8" : "fp32";
  }

  private isInt8(name: string): boolean {
    return this.params.has(name) && this.params.get(name).quantized !== undefined;
  }

  /** Trainable and total parameter counts (method tensors included in the total, as PEFT counts). */
  trainableCounts(): { trainable: number; all: number } {
    return { trainable: this.params.count(true), all: this.params.count() };
  }

  /** "trainable params: N || all params: M || trainable%: P" (PEFT's format). */
  trainableReport(): string {
    const { trainable, all } = this.trainableCounts();
    return formatTrainableReport(trainable, all);
  }

  /** Fingerprint of the backbone's names and shapes (see `fingerprintParams`). */
  baseFingerprint(): string {
    return fingerprintParams(this.baseNames.map((n) => this.params.get(n)));
  }

  /** Names of the tensors an adapter file holds: every trainable parameter and every tensor the method created. */
  savedNames(): string[] {
    const added = new Set(this.addedNames);
    return this.params.list().filter((p) => p.trainable || added.has(p.name)).map((p) => p.name);
  }

  /** Writes adapter_config.json and adapter_model.safetensors into `dir` (created if missing). */
  saveAdapter(dir: string): void {
    saveAdapterFiles(this, dir);
  }

  /** Loads tensors saved by `saveAdapter`, refusing a different base model or config (ConfigError naming what differs). */
  loadAdapter(dir: string, opts: { ignoreBaseName?: boolean } = {}): void {
    loadAdapterFiles(this, dir, opts);
  }
}

/**
 * Applies a PEFT config to a frozen backbone (HF PEFT's get_peft_model). The config is parsed (defaults,
 * validation); the method's default targets and trained modules become the backbone's (see
 * backbone-defaults.ts); targets are matched against the backbone's sites; the method's tensors are initialised
 * from `seed`; the method's own backbone tensors and `modulesToSave` are marked trainable and all
 * other backbone tensors frozen. The base store is not modified.
 *
 * @example
 * const pm = applyAdapters({ cfg, params }, { method: "lora", rank: 4 }, { seed: 0 });
 * console.log(pm.trainableReport());
 */
export function applyAdapters(model: BaseModel, config: PeftConfig | Record<string, unknown>, { seed = 0, backbonePrecision }: ApplyOptions = {}): PeftModel {
  const backbone = backboneOf(model.cfg);
  const cfg = backboneDefaults(parsePeftConfig(config), backbone, model.cfg);
  const method = getMethod(cfg.method);
  const gcfg = cfg as unknown as GenericPeftConfig;
  const sites = selectSites(backbone.sites(model.cfg), gcfg, cfg.method);

  let params = new ParameterStore();
  const baseNames: string[] = [];
  for (const p of model.params.list()) {
    if (p.quantized && method.backboneTrainable?.(p.name, gcfg)) throw new ConfigError(`${cfg.method} trains "${p.name}", which this backbone holds int8 (frozen weights only); use backbone precision fp32`);
    if (p.quantized) params.addQuantized(p.name, p.shape as [number, number], p.quantized, { decay: p.decay });
    else params.add(p.name, p.shape, p.data, { trainable: method.backboneTrainable?.(p.name, gcfg) ?? false, decay: p.decay });
    baseNames.push(p.name);
  }
  const saved = matchModulesToSave(baseNames, gcfg.modulesToSave);
  for (const [prefix, names] of saved) {
    // A default entry may not apply (no head when numClasses = 0); one the user wrote must.
    if (names.length === 0 && !defaultTrainedFor(method, backbone, model.cfg).includes(prefix)) {
      throw new ConfigError(`${cfg.method}.modulesToSave: "${prefix}" matches no parameter (e.g. ${baseNames.slice(0, 4).join(", ")}, ...)`);
    }
    for (const n of names) params.get(n).trainable = true;
  }

  const trainedInt8 = params.list().find((p) => p.quantized && p.trainable);
  if (trainedInt8) throw new ConfigError(`${cfg.method}.modulesToSave trains "${trainedInt8.name}", which this backbone holds int8 (frozen weights only); use backbone precision fp32`);
  if (parseBackbonePrecision(backbonePrecision) === "int8") params = quantizeParams(params, int8WeightNames(model.cfg), `${cfg.method} with backbonePrecision int8`);
  const rng = new Rng(seed);
  const added: string[] = [];
  for (const site of sites) {
    added.push(...checkCreated(method, site, () => {
      const before = new Set(params.list().map((p) => p.name));
      method.init(params, site, gcfg, rng);
      return params.list().map((p) => p.name).filter((n) => !before.has(n));
    }));
  }
  return new PeftModel(model.cfg, params, cfg, method, sites, baseNames, added, model.name ?? null);
}
