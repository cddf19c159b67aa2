/**
 * @file Vision Transformer in timm's layout and parameter names (https://arxiv.org/abs/2010.11929,
 * timm/models/vision_transformer.py), written as one graph with a hook at every adaptable linear;
 * `vit` at the end is this file as a Backbone (models/backbone.ts).
 */
import { int8Linear } from "../ir/int8-matmul.js";
import { ConfigError, ShapeError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { ParameterStore, type ParamBinder } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import { fnv1a } from "../ir/ops/random.js";
import { truncNormal, type Rng } from "../random.js";
import { frozenLinearOf, type Backbone, type BackboneForwardOptions, type FrozenLinear, type ParamSpec, type SiteHook, type SiteInfo, type SiteWeight } from "./backbone.js";
import { vitCheckpointFilter } from "./checkpoint-filter.js";
import { vitModelNames, vitTestVariant, vitVariantOrNull } from "./vit-variants.js";

/** Architecture of a ViT with a class token, pre-norm blocks and a linear head (timm's VisionTransformer defaults). */
export interface VitConfig {
  /** The backbone's name in models/registry.ts; optional so configs written before it existed still type. */
  arch?: "vit";
  /** Square input side in pixels; the pos_embed table is sized for it. */
  imgSize: number;
  patchSize: number;
  inChans: number;
  /** 0 means no head (timm's num_classes=0): the forward returns pooled features. */
  numClasses: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  /** LayerNorm epsilon; timm's ViT uses 1e-6. */
  eps: number;
}

export type { SiteHook } from "./backbone.js";

/** A parameter's name, shape and how it starts. */
export interface VitParamSpec extends ParamSpec {
  /** "head": timm's trunc_normal_(std=0.02), cut at absolute +-2 (the other "trunc" weights cut at +-2 std). */
  init: "trunc" | "head" | "zeros" | "ones" | "cls";
}

/** Every field of VitConfig but `arch` (the `--arch key=value` keys; kept complete by the check below). */
export const VIT_CONFIG_KEYS = [
  "imgSize", "patchSize", "inChans", "numClasses", "embedDim", "depth", "numHeads", "mlpRatio", "qkvBias", "eps",
] as const satisfies readonly (keyof VitConfig)[];

// A compile error here means VitConfig gained a field the list above lacks.
type Missing = Exclude<keyof VitConfig, (typeof VIT_CONFIG_KEYS)[number] | "arch">;
const _complete: Missing extends never ? true : never = true;
void _complete;

/** Throws ConfigError naming the first inconsistent field. */
export function validateVitConfig(cfg: VitConfig): void {
  const ints: (keyof VitConfig)[] = ["imgSize", "patchSize", "inChans", "embedDim", "depth", "numHeads"];
  for (const k of ints) {
    const v = cfg[k] as number;
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`vit.${k} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 0) throw new ConfigError(`vit.numClasses must be an integer >= 0, got ${cfg.numClasses}`);
  if (cfg.imgSize % cfg.patchSize !== 0) throw new ConfigError(`vit.imgSize ${cfg.imgSize} is not a multiple of vit.patchSize ${cfg.patchSize}`);
  if (cfg.embedDim % cfg.numHeads !== 0) throw new ConfigError(`vit.embedDim ${cfg.embedDim} is not divisible by vit.numHeads ${cfg.numHeads}`);
  if (!(cfg.mlpRatio > 0) || !Number.isInteger(cfg.embedDim * cfg.mlpRatio)) throw new ConfigError(`vit.mlpRatio ${cfg.mlpRatio} must give an integer hidden size`);
  if (!(cfg.eps > 0)) throw new ConfigError(`vit.eps must be > 0, got ${cfg.eps}`);
}

/** Patches per side. */
export const gridSize = (cfg: VitConfig) => cfg.imgSize / cfg.patchSize;
/** Tokens per image, class token included. */
export const numTokens = (cfg: VitConfig) => gridSize(cfg) ** 2 + 1;
const hidden = (cfg: VitConfig) => cfg.embedDim * cfg.mlpRatio;

/** Every parameter in timm's state-dict order, with timm's names and shapes. */
export function vitParamSpecs(cfg: VitConfig): VitParamSpec[] {
  validateVitConfig(cfg);
  const D = cfg.embedDim, H = hidden(cfg), p = cfg.patchSize;
  const out: VitParamSpec[] = [];
  const add = (name: string, shape: number[], init: VitParamSpec["init"], decay = shape.length > 1) => out.push({ name, shape, init, decay });
  const linear = (name: string, nOut: number, nIn: number, bias = true, init: VitParamSpec["init"] = "trunc") => {
    add(`${name}.weight`, [nOut, nIn], init);
    if (bias) add(`${name}.bias`, [nOut], "zeros");
  };
  const norm = (name: string) => { add(`${name}.weight`, [D], "ones"); add(`${name}.bias`, [D], "zeros"); };
  add("cls_token", [1, 1, D], "cls", false);
  add("pos_embed", [1, numTokens(cfg), D], "trunc", false);
  add("patch_embed.proj.weight", [D, cfg.inChans, p, p], "trunc");
  add("patch_embed.proj.bias", [D], "zeros");
  for (let i = 0; i < cfg.depth; i++) {
    const b = `blocks.${i}`;
    norm(`${b}.norm1`);
    linear(`${b}.attn.qkv`, 3 * D, D, cfg.qkvBias);
    linear(`${b}.attn.proj`, D, D);
    norm(`${b}.norm2`);
    linear(`${b}.mlp.fc1`, H, D);
    linear(`${b}.mlp.fc2`, D, H);
  }
  norm("norm");
  if (cfg.numClasses > 0) linear("head", cfg.numClasses, D, true, "head");
  return out;
}

/** Weight-file layouts the ViT's checkpoint filter reads (here, not there: the `vit` object below needs it at load). */
export const VIT_CHECKPOINT_LAYOUTS = ["timm", "npz", "mae", "mocov3"] as const;

/** How a new head starts (recorded in run.json): timm's _init_vit_weights for an unnamed nn.Linear. */
export const HEAD_INIT = "timm trunc_normal_(std=0.02, a=-2, b=2): absolute cut, effectively N(0, 0.02^2); bias 0";

/**
 * timm's trunc_normal_(std, a, b): a normal of the given std redrawn outside [a, b], where a and b are
 * absolute values, not multiples of std. The authors' head (nn.Linear under _init_vit_weights, called
 * through apply() so without the name that would zero it) gets std 0.02 with timm's default [-2, 2]:
 * 100 std, so in effect an untruncated N(0, 0.02^2).
 */
export function timmTruncNormal(rng: Rng, n: number, std: number, a = -2, b = 2): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = rng.normal() * std;
    while (v < a || v > b) v = rng.normal() * std;
    out[i] = v;
  }
  return out;
}

/**
 * Random init in timm's layout and names (trunc-normal 0.02 for weights, zeros for biases, LN ones/zeros;
 * the head as timm's trunc_normal_, see timmTruncNormal). All frozen.
 */
export function createVitParams(cfg: VitConfig, rng: Rng): ParameterStore {
  const ps = new ParameterStore();
  for (const s of vitParamSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = s.init === "trunc" ? truncNormal(rng, n, 0.02)
      : s.init === "head" ? timmTruncNormal(rng, n, 0.02)
      : s.init === "cls" ? truncNormal(rng, n, 1e-6) // timm: normal_(cls_token, std=1e-6)
      : s.init === "ones" ? new Float32Array(n).fill(1) : new Float32Array(n);
    ps.add(s.name, s.shape, data, { trainable: false, decay: s.decay });
  }
  return ps;
}

function site(path: string, nIn: number, nOut: number, block: number | null): SiteInfo {
  return { path, nIn, nOut, block, kind: path.slice(path.lastIndexOf(".") + 1) };
}

/** Adaptable sites in forward order: blocks.i.attn.{q,k,v,proj}, blocks.i.mlp.{fc1,fc2}, then head. */
export function vitSites(cfg: VitConfig): SiteInfo[] {
  validateVitConfig(cfg);
  const D = cfg.embedDim, H = hidden(cfg);
  const out: SiteInfo[] = [];
  for (let i = 0; i < cfg.depth; i++) {
    for (const k of ["q", "k", "v", "proj"]) out.push(site(`blocks.${i}.attn.${k}`, D, D, i));
    out.push(site(`blocks.${i}.mlp.fc1`, D, H, i), site(`blocks.${i}.mlp.fc2`, H, D, i));
  }
  if (cfg.numClasses > 0) out.push(site("head", D, cfg.numClasses, null));
  return out;
}

/** The weight a site reads: q, k and v are thirds of timm's fused qkv, every other site its own linear. */
export function vitSiteWeight(cfg: VitConfig, site: SiteInfo): SiteWeight {
  const m = /^(blocks\.\d+\.attn)\.(q|k|v)$/.exec(site.path);
  if (m) return { weight: `${m[1]}.qkv.weight`, bias: cfg.qkvBias ? `${m[1]}.qkv.bias` : null, rowOffset: "qkv".indexOf(m[2]!) * site.nOut };
  return { weight: `${site.path}.weight`, bias: `${site.path}.bias`, rowOffset: 0 };
}

/**
 * Options of the forward functions: `adapt` rewrites each site's output (PEFT methods; its `samples`
 * is the batch size, every ViT site's rows being grouped by image); `features` returns the pooled,
 * normalised class token [B, D] (timm's pre_logits); `dropPath` is stochastic depth (timm's
 * drop_path_rate): block i drops each image's residual branches with probability rate * i / (depth - 1),
 * masks hashing `seed` (int64, fed per step).
 */
export type VitForwardOptions = BackboneForwardOptions;

/** Graph-building context shared by the layer helpers below. */
class Ctx {
  readonly sites: Map<string, SiteInfo>;
  readonly adapt?: SiteHook;
  constructor(readonly g: GraphBuilder, readonly bind: ParamBinder, readonly cfg: VitConfig, readonly opts: VitForwardOptions) {
    this.sites = new Map(vitSites(cfg).map((s) => [s.path, s]));
    this.adapt = opts.adapt;
  }

  /** A residual branch [B*T, D] through block i's DropPath (identity in eval graphs and at rate 0). */
  dropPath(i: number, which: 1 | 2, branch: Value, B: number): Value {
    const dp = this.opts.dropPath;
    const p = dp && this.cfg.depth > 1 ? (dp.rate * i) / (this.cfg.depth - 1) : 0;
    if (!dp || p === 0) return branch;
    const name = `blocks.${i}.drop_path${which}`, T = numTokens(this.cfg), D = this.cfg.embedDim;
    return this.g.scope(name, () => this.g.Reshape(this.g.dropPath(this.g.Reshape(branch, [B, T, D]), p, dp.seed, fnv1a(name)), [B * T, D]));
  }

  /** timm's nn.Linear on rows [M, in] with the weight kept [out, in]: one Gemm(transB), no transposed copy. */
  linear(name: string, x: Value, bias = true): Value {
    const b = bias ? this.bind.get(`${name}.bias`) : null;
    const q = this.bind.int8(`${name}.weight`);
    if (q) return this.g.scope(name, () => int8Linear(this.g, x, q, b));
    const w = this.bind.get(`${name}.weight`);
    return this.g.scope(name, () => this.g.Gemm(x, w, b, { transB: 1 }));
  }

  /** Lets the adapter rewrite site `path`'s output y; `samples` (B) is how many images the rows of x and y hold. */
  hook(path: string, x: Value, y: Value, samples: number): Value {
    if (!this.adapt) return y;
    const s = this.sites.get(path)!;
    const frozen = (): FrozenLinear => {
      const w = vitSiteWeight(this.cfg, s), lo = w.rowOffset;
      return frozenLinearOf(this.bind, w.weight, w.bias, [lo, lo + s.nOut]);
    };
    return this.g.scope(path, () => this.adapt!(s, x, y, frozen, samples));
  }

  norm(name: string, x: Value): Value {
    const { g, bind } = this;
    return g.scope(name, () => g.LayerNormalization(x, bind.get(`${name}.weight`), bind.get(`${name}.bias`), { axis: -1, epsilon: this.cfg.eps }));
  }
}

/** Conv2d(stride = kernel) as patches @ W^T: [B, C, H, W] -> [B, N, D] (plus cls token and pos_embed: [B*T, D]). */
function embed(c: Ctx, images: Value): Value {
  const { g, bind, cfg } = c;
  const [B, C, Hh, W] = images.shape as [number, number, number, number];
  if (images.rank !== 4 || C !== cfg.inChans || Hh !== cfg.imgSize || W !== cfg.imgSize) {
    throw new ShapeError(`vitForward: images must be [B, ${cfg.inChans}, ${cfg.imgSize}, ${cfg.imgSize}], got [${images.shape.join(", ")}]`);
  }
  const p = cfg.patchSize, gs = gridSize(cfg), D = cfg.embedDim, T = numTokens(cfg);
  const tokens = g.scope("patch_embed.proj", () => {
    const patches = g.Reshape(g.Transpose(g.Reshape(images, [B, C, gs, p, gs, p]), [0, 2, 4, 1, 3, 5]), [B * gs * gs, C * p * p]);
    const w = g.Reshape(bind.get("patch_embed.proj.weight"), [D, C * p * p]);
    return g.Reshape(g.Gemm(patches, w, bind.get("patch_embed.proj.bias"), { transB: 1 }), [B, gs * gs, D]);
  });
  const cls = g.Expand(bind.get("cls_token"), [B, 1, D]);
  return g.Reshape(g.Add(g.Concat([cls, tokens], 1), bind.get("pos_embed")), [B * T, D]);
}

function attention(c: Ctx, i: number, h: Value, B: number): Value {
  const { g, cfg } = c;
  const D = cfg.embedDim, nh = cfg.numHeads, hd = D / nh, T = numTokens(cfg), a = `blocks.${i}.attn`;
  // One fused frozen matmul; q, k and v are separate sites over its thirds.
  const qkv = c.linear(`${a}.qkv`, h, cfg.qkvBias);
  const [q0, k0, v0] = g.scope(`${a}.qkv`, () => g.Split(qkv, [D, D, D], 1)) as [Value, Value, Value];
  const q = c.hook(`${a}.q`, h, q0, B), k = c.hook(`${a}.k`, h, k0, B), v = c.hook(`${a}.v`, h, v0, B);
  const o = g.scope(a, () => {
    const split = (t: Value, perm: number[]) => g.Transpose(g.Reshape(t, [B, T, nh, hd]), perm);
    // Scaling q (T*hd per head) is cheaper than scaling the T*T scores.
    const qh = g.Mul(split(q, [0, 2, 1, 3]), g.scalar(hd ** -0.5, q.dtype));
    const attn = g.Softmax(g.MatMul(qh, split(k, [0, 2, 3, 1])), -1);
    return g.Reshape(g.Transpose(g.MatMul(attn, split(v, [0, 2, 1, 3])), [0, 2, 1, 3]), [B * T, D]);
  });
  return c.hook(`${a}.proj`, o, c.linear(`${a}.proj`, o), B);
}

function mlp(c: Ctx, i: number, h: Value, B: number): Value {
  const m = `blocks.${i}.mlp`;
  const y1 = c.hook(`${m}.fc1`, h, c.linear(`${m}.fc1`, h), B);
  const u = c.g.scope(`${m}.act`, () => c.g.gelu(y1));
  return c.hook(`${m}.fc2`, u, c.linear(`${m}.fc2`, u), B);
}

/** Patch embedding and all blocks; tokens [B*T, D] before the final norm. */
function encode(c: Ctx, images: Value): Value {
  const B = images.shape[0]!;
  let x = embed(c, images);
  for (let i = 0; i < c.cfg.depth; i++) {
    x = c.g.Add(x, c.dropPath(i, 1, attention(c, i, c.norm(`blocks.${i}.norm1`, x), B), B));
    x = c.g.Add(x, c.dropPath(i, 2, mlp(c, i, c.norm(`blocks.${i}.norm2`, x), B), B));
  }
  return x;
}

/** Class-token rows [B, D] of tokens [B, T, D] (a Slice: its gradient is a Pad, not a scatter). */
function clsRows(g: GraphBuilder, tokens: Value): Value {
  const [B, , D] = tokens.shape as [number, number, number];
  return g.Reshape(g.Slice(tokens, [0], [1], [1]), [B, D]);
}

function head(c: Ctx, pooled: Value, features: boolean): Value {
  if (features || c.cfg.numClasses === 0) return pooled;
  return c.hook("head", pooled, c.linear("head", pooled), pooled.shape[0]!);
}

/** timm's forward_features: normalised tokens [B, T, D], class token first. */
export function forwardFeatures(g: GraphBuilder, bind: ParamBinder, cfg: VitConfig, images: Value, opts: VitForwardOptions = {}): Value {
  const c = new Ctx(g, bind, cfg, opts);
  const x = c.norm("norm", encode(c, images));
  return g.Reshape(x, [images.shape[0]!, numTokens(cfg), cfg.embedDim]);
}

/** timm's forward_head: class-token pooling then the head; `features` returns the pooled [B, D]. */
export function forwardHead(g: GraphBuilder, bind: ParamBinder, cfg: VitConfig, tokens: Value, opts: VitForwardOptions = {}): Value {
  const c = new Ctx(g, bind, cfg, opts);
  return head(c, clsRows(g, tokens), opts.features ?? false);
}

/**
 * images [B, inChans, H, W] -> logits [B, numClasses] (or pooled features [B, D]).
 * Same numbers as forwardHead(forwardFeatures(x)); the final LayerNorm runs on the class token
 * only, since no other row reaches the output.
 *
 * @example
 * const g = new GraphBuilder();
 * const logits = vitForward(g, new ParamBinder(g, params), cfg, g.input("images", [8, 3, 224, 224]));
 */
export function vitForward(g: GraphBuilder, bind: ParamBinder, cfg: VitConfig, images: Value, opts: VitForwardOptions = {}): Value {
  const c = new Ctx(g, bind, cfg, opts);
  const x = encode(c, images);
  const pooled = c.norm("norm", clsRows(g, g.Reshape(x, [images.shape[0]!, numTokens(cfg), cfg.embedDim])));
  return head(c, pooled, opts.features ?? false);
}

/** The ViT as a Backbone (models/registry.ts registers it as "vit"). */
export const vit: Backbone<VitConfig> = {
  arch: "vit",
  configKeys: VIT_CONFIG_KEYS,
  validate: validateVitConfig,
  paramSpecs: vitParamSpecs,
  createParams: createVitParams,
  sites: vitSites,
  siteWeight: vitSiteWeight,
  // The authors' SNELL/LoRA ViT runs: every attention and MLP linear; the head and class token train.
  defaultTargets: ["attn.q", "attn.k", "attn.v", "attn.proj", "mlp.fc1", "mlp.fc2"],
  defaultTrained: ["head", "cls_token"],
  forward: vitForward,
  headInit: HEAD_INIT,
  describe: (cfg) => `ViT ${cfg.embedDim}x${cfg.depth}`,
  checkpointFilter: (raw, cfg, opts) => vitCheckpointFilter(raw, cfg, opts),
  checkpointLayouts: VIT_CHECKPOINT_LAYOUTS,
  // Arrows, not values: vit-variants.ts imports this file, so its bindings are read only when called.
  variants: {
    names: () => vitModelNames(),
    resolve: (name, over) => vitTestVariant(name, over as Partial<VitConfig>) ?? vitVariantOrNull(name, over as Partial<VitConfig>),
  },
};
