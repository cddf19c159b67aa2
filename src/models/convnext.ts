/**
 * @file ConvNeXt in timm's current layout and parameter names (https://arxiv.org/abs/2201.03545,
 * timm/models/convnext.py): a 4x4/4 patchify stem with a channels-first LayerNorm, stages of blocks
 * (7x7 depthwise conv, LayerNorm, fc1, GELU, fc2, layer scale, drop-path), LN + 2x2/2 conv between
 * stages, and a pooled LN + fc head. One graph with a hook at every adaptable linear (fc1, fc2, head.fc).
 */
import { int8Linear } from "../ir/int8-matmul.js";
import { ConfigError, ShapeError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { fnv1a } from "../ir/ops/random.js";
import { ParameterStore, type ParamBinder } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import { truncNormal, type Rng } from "../random.js";
import { frozenLinearOf, type Backbone, type BackboneForwardOptions, type FrozenLinear, type ParamSpec, type SiteInfo, type SiteWeight } from "./backbone.js";
import { convnextCheckpointFilter } from "./convnext-checkpoint.js";
import { convnextVariantNames, convnextVariantOrNull } from "./convnext-variants.js";
import { timmTruncNormal } from "./vit.js";

/** Architecture of a ConvNeXt (timm's ConvNeXt defaults: conv_mlp=False, head_norm_first=False). */
export interface ConvNextConfig {
  /** The backbone's name in models/registry.ts. */
  arch?: "convnext";
  /** Square input side in pixels; the stem and each downsampling must divide it evenly. */
  imgSize: number;
  /** The stem's kernel and stride (timm: patch_size 4). */
  patchSize: number;
  inChans: number;
  /** 0 means no head fc: the forward returns pooled, normalised features. */
  numClasses: number;
  /** Blocks per stage. */
  depths: readonly number[];
  /** Channels per stage. */
  dims: readonly number[];
  mlpRatio: number;
  /** LayerNorm epsilon, every norm; ConvNeXt uses 1e-6. */
  eps: number;
  /** Layer scale `gamma` at init (timm ls_init_value 1e-6); pretrained weights replace it. */
  lsInitValue: number;
}

/** Every field of ConvNextConfig but `arch` (the `--arch key=value` keys). */
export const CONVNEXT_CONFIG_KEYS = [
  "imgSize", "patchSize", "inChans", "numClasses", "depths", "dims", "mlpRatio", "eps", "lsInitValue",
] as const satisfies readonly (keyof ConvNextConfig)[];
type Missing = Exclude<keyof ConvNextConfig, (typeof CONVNEXT_CONFIG_KEYS)[number] | "arch">;
const _complete: Missing extends never ? true : never = true;
void _complete;

/** The depthwise kernel side and padding (timm: kernel_size 7, "same" padding). */
const DW_KERNEL = 7, DW_PAD = 3;

const posInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;

/** Throws ConfigError naming the first inconsistent field. */
export function validateConvNextConfig(cfg: ConvNextConfig): void {
  for (const k of ["imgSize", "patchSize", "inChans"] as const) {
    if (!posInt(cfg[k])) throw new ConfigError(`convnext.${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 0) throw new ConfigError(`convnext.numClasses must be an integer >= 0, got ${cfg.numClasses}`);
  if (!Array.isArray(cfg.depths) || cfg.depths.length < 1 || !cfg.depths.every(posInt)) throw new ConfigError(`convnext.depths must be a non-empty list of positive integers, got ${JSON.stringify(cfg.depths)}`);
  if (!Array.isArray(cfg.dims) || cfg.dims.length !== cfg.depths.length || !cfg.dims.every(posInt)) {
    throw new ConfigError(`convnext.dims must list one positive integer per stage (${cfg.depths.length}), got ${JSON.stringify(cfg.dims)}`);
  }
  const reduction = cfg.patchSize * 2 ** (cfg.depths.length - 1);
  if (cfg.imgSize % reduction !== 0) throw new ConfigError(`convnext.imgSize ${cfg.imgSize} must be a multiple of ${reduction} (the stem's ${cfg.patchSize} times 2 per later stage)`);
  if (!(cfg.mlpRatio > 0) || !cfg.dims.every((d) => Number.isInteger(d * cfg.mlpRatio))) throw new ConfigError(`convnext.mlpRatio ${cfg.mlpRatio} must give integer hidden sizes`);
  if (!(cfg.eps > 0)) throw new ConfigError(`convnext.eps must be > 0, got ${cfg.eps}`);
  if (!Number.isFinite(cfg.lsInitValue)) throw new ConfigError(`convnext.lsInitValue must be a number, got ${cfg.lsInitValue}`);
}

/** Feature-map side of stage i. */
const side = (cfg: ConvNextConfig, i: number) => cfg.imgSize / cfg.patchSize / 2 ** i;
const hidden = (cfg: ConvNextConfig, i: number) => cfg.dims[i]! * cfg.mlpRatio;

/** Every parameter in timm's state-dict order (a module's own `gamma` before its children), timm's names and shapes. */
export function convnextParamSpecs(cfg: ConvNextConfig): ParamSpec[] {
  validateConvNextConfig(cfg);
  const out: ParamSpec[] = [];
  const add = (name: string, shape: number[], init: string, decay = shape.length > 1) => out.push({ name, shape, init, decay });
  const norm = (name: string, d: number) => { add(`${name}.weight`, [d], "ones"); add(`${name}.bias`, [d], "zeros"); };
  const conv = (name: string, o: number, i: number, k: number) => { add(`${name}.weight`, [o, i, k, k], "trunc"); add(`${name}.bias`, [o], "zeros"); };
  const linear = (name: string, o: number, i: number, init = "trunc") => { add(`${name}.weight`, [o, i], init); add(`${name}.bias`, [o], "zeros"); };
  conv("stem.0", cfg.dims[0]!, cfg.inChans, cfg.patchSize);
  norm("stem.1", cfg.dims[0]!);
  for (const [s, depth] of cfg.depths.entries()) {
    const D = cfg.dims[s]!;
    if (s > 0) {
      norm(`stages.${s}.downsample.0`, cfg.dims[s - 1]!);
      conv(`stages.${s}.downsample.1`, D, cfg.dims[s - 1]!, 2);
    }
    for (let j = 0; j < depth; j++) {
      const b = `stages.${s}.blocks.${j}`;
      add(`${b}.gamma`, [D], "ls");
      add(`${b}.conv_dw.weight`, [D, 1, DW_KERNEL, DW_KERNEL], "trunc");
      add(`${b}.conv_dw.bias`, [D], "zeros");
      norm(`${b}.norm`, D);
      linear(`${b}.mlp.fc1`, hidden(cfg, s), D);
      linear(`${b}.mlp.fc2`, D, hidden(cfg, s));
    }
  }
  const F = cfg.dims[cfg.dims.length - 1]!;
  norm("head.norm", F);
  if (cfg.numClasses > 0) linear("head.fc", cfg.numClasses, F, "head");
  return out;
}

/** Random init as timm's _init_weights (trunc-normal 0.02 weights, zero biases, LN 1/0, gamma = lsInitValue). All frozen. */
export function createConvNextParams(cfg: ConvNextConfig, rng: Rng): ParameterStore {
  const ps = new ParameterStore();
  for (const s of convnextParamSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = s.init === "trunc" ? truncNormal(rng, n, 0.02)
      : s.init === "head" ? timmTruncNormal(rng, n, 0.02)
      : s.init === "ls" ? new Float32Array(n).fill(cfg.lsInitValue)
      : s.init === "ones" ? new Float32Array(n).fill(1) : new Float32Array(n);
    ps.add(s.name, s.shape, data, { trainable: false, decay: s.decay });
  }
  return ps;
}

function site(path: string, nIn: number, nOut: number, block: number | null): SiteInfo {
  return { path, nIn, nOut, block, kind: path.slice(path.lastIndexOf(".") + 1) };
}

/** Adaptable sites in forward order: stages.s.blocks.j.mlp.{fc1,fc2} (block = running index), then head.fc. */
export function convnextSites(cfg: ConvNextConfig): SiteInfo[] {
  validateConvNextConfig(cfg);
  const out: SiteInfo[] = [];
  let block = 0;
  for (const [s, depth] of cfg.depths.entries()) {
    const D = cfg.dims[s]!, H = hidden(cfg, s);
    for (let j = 0; j < depth; j++, block++) {
      const m = `stages.${s}.blocks.${j}.mlp`;
      out.push(site(`${m}.fc1`, D, H, block), site(`${m}.fc2`, H, D, block));
    }
  }
  if (cfg.numClasses > 0) out.push(site("head.fc", cfg.dims[cfg.dims.length - 1]!, cfg.numClasses, null));
  return out;
}

/** Every site is a whole nn.Linear of its own path. */
export function convnextSiteWeight(_cfg: ConvNextConfig, s: SiteInfo): SiteWeight {
  return { weight: `${s.path}.weight`, bias: `${s.path}.bias`, rowOffset: 0 };
}

/** Graph-building context shared by the layer helpers below. */
class Ctx {
  readonly sites: Map<string, SiteInfo>;
  readonly totalBlocks: number;
  constructor(readonly g: GraphBuilder, readonly bind: ParamBinder, readonly cfg: ConvNextConfig, readonly opts: BackboneForwardOptions, readonly B: number) {
    this.sites = new Map(convnextSites(cfg).map((s) => [s.path, s]));
    this.totalBlocks = cfg.depths.reduce((a, b) => a + b, 0);
  }

  /** Rows [B*H*W, C] through block `index`'s DropPath (timm: linspace(0, rate) over all blocks); whole images drop. */
  dropPath(index: number, name: string, rows: Value): Value {
    const dp = this.opts.dropPath;
    const p = dp && this.totalBlocks > 1 ? (dp.rate * index) / (this.totalBlocks - 1) : 0;
    if (!dp || p === 0) return rows;
    const [M, C] = rows.shape as [number, number];
    return this.g.scope(name, () => this.g.Reshape(this.g.dropPath(this.g.Reshape(rows, [this.B, (M / this.B) * C]), p, dp.seed, fnv1a(name)), [M, C]));
  }

  /** timm's nn.Linear on channels-last rows [M, in] (ConvNeXt's pointwise convs), weight kept [out, in]. */
  linear(name: string, x: Value): Value {
    const q = this.bind.int8(`${name}.weight`);
    if (q) return this.g.scope(name, () => int8Linear(this.g, x, q, this.bind.get(`${name}.bias`)));
    return this.g.scope(name, () => this.g.Gemm(x, this.bind.get(`${name}.weight`), this.bind.get(`${name}.bias`), { transB: 1 }));
  }

  /** The adapter hook; `samples` = B, so adapter drop-path drops whole images (the authors' DropPath on [B, H, W, C]). */
  hook(path: string, x: Value, y: Value): Value {
    const adapt = this.opts.adapt;
    if (!adapt) return y;
    const s = this.sites.get(path)!;
    const frozen = (): FrozenLinear => frozenLinearOf(this.bind, `${path}.weight`, `${path}.bias`, [0, s.nOut]);
    return this.g.scope(path, () => adapt(s, x, y, frozen, this.B));
  }

  /** nn.LayerNorm over the last axis (channels-last rows). */
  norm(name: string, x: Value): Value {
    const { g, bind } = this;
    return g.scope(name, () => g.LayerNormalization(x, bind.get(`${name}.weight`), bind.get(`${name}.bias`), { axis: -1, epsilon: this.cfg.eps }));
  }

  /** timm's LayerNorm2d on NCHW: normalise each pixel's channels (permute, LayerNorm, permute back). */
  norm2d(name: string, x: Value): Value {
    return this.g.scope(name, () => this.g.Transpose(this.norm(name, this.g.Transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]));
  }

  conv(name: string, x: Value, attrs: { strides?: number[]; pads?: number[]; group?: number }, keep = false): Value {
    const w = this.bind.get(`${name}.weight`);
    // A frozen depthwise kernel stays an initializer: ORT's depthwise path is 2-40x faster on a constant one (bench/depthwise.ts).
    if (keep) this.g.keepInGraph(w);
    return this.g.scope(name, () => this.g.Conv(x, w, this.bind.get(`${name}.bias`), attrs));
  }
}

/**
 * One block on the NCHW residual stream: conv_dw (NCHW), then channels-last rows for norm, fc1, GELU,
 * fc2 and gamma (a per-channel scale, cheapest on rows), back to NCHW, drop-path, residual add.
 */
function block(c: Ctx, s: number, j: number, index: number, x: Value): Value {
  const { g, cfg, B } = c;
  const D = cfg.dims[s]!, S = side(cfg, s), b = `stages.${s}.blocks.${j}`;
  const dw = c.conv(`${b}.conv_dw`, x, { pads: [DW_PAD, DW_PAD, DW_PAD, DW_PAD], group: D }, true);
  const rows = g.scope(b, () => g.Reshape(g.Transpose(dw, [0, 2, 3, 1]), [B * S * S, D]));
  const h = c.norm(`${b}.norm`, rows);
  const m = `${b}.mlp`;
  const y1 = c.hook(`${m}.fc1`, h, c.linear(`${m}.fc1`, h));
  const u = g.scope(`${m}.act`, () => g.gelu(y1));
  const y2 = c.hook(`${m}.fc2`, u, c.linear(`${m}.fc2`, u));
  const scaled = g.scope(b, () => g.Mul(y2, c.bind.get(`${b}.gamma`)));
  const branch = c.dropPath(index, `${b}.drop_path`, scaled);
  return g.scope(b, () => g.Add(x, g.Transpose(g.Reshape(branch, [B, S, S, D]), [0, 3, 1, 2])));
}

/** Stem and every stage: the last stage's feature map [B, C, H, W] (timm's forward_features). */
function encode(c: Ctx, images: Value): Value {
  const { cfg } = c;
  const p = cfg.patchSize;
  let x = c.norm2d("stem.1", c.conv("stem.0", images, { strides: [p, p] }));
  let index = 0;
  for (const [s, depth] of cfg.depths.entries()) {
    if (s > 0) x = c.conv(`stages.${s}.downsample.1`, c.norm2d(`stages.${s}.downsample.0`, x), { strides: [2, 2] });
    for (let j = 0; j < depth; j++) x = block(c, s, j, index++, x);
  }
  return x;
}

function checkImages(cfg: ConvNextConfig, images: Value): void {
  const [, C, H, W] = images.shape;
  if (images.rank !== 4 || C !== cfg.inChans || H !== cfg.imgSize || W !== cfg.imgSize) {
    throw new ShapeError(`convnextForward: images must be [B, ${cfg.inChans}, ${cfg.imgSize}, ${cfg.imgSize}], got [${images.shape.join(", ")}]`);
  }
}

/**
 * images [B, inChans, S, S] -> logits [B, numClasses]: timm's forward_head (global average pool,
 * head.norm, head.fc); `features` (or numClasses 0) returns the pooled, normalised [B, C].
 *
 * @example
 * const g = new GraphBuilder();
 * const logits = convnextForward(g, new ParamBinder(g, params), cfg, g.input("images", [8, 3, 224, 224]));
 */
export function convnextForward(g: GraphBuilder, bind: ParamBinder, cfg: ConvNextConfig, images: Value, opts: BackboneForwardOptions = {}): Value {
  validateConvNextConfig(cfg);
  checkImages(cfg, images);
  const c = new Ctx(g, bind, cfg, opts, images.shape[0]!);
  const x = encode(c, images);
  const pooled = c.norm("head.norm", g.scope("head.global_pool", () => g.ReduceMean(x, [2, 3], 0)));
  if (opts.features || cfg.numClasses === 0) return pooled;
  return c.hook("head.fc", pooled, c.linear("head.fc", pooled));
}

/** ConvNeXt as a Backbone (models/registry.ts registers it as "convnext"). */
export const convnext: Backbone<ConvNextConfig> = {
  arch: "convnext",
  configKeys: CONVNEXT_CONFIG_KEYS,
  validate: validateConvNextConfig,
  paramSpecs: convnextParamSpecs,
  createParams: createConvNextParams,
  sites: convnextSites,
  siteWeight: convnextSiteWeight,
  // The authors' convnext_timm.py: adapters on every block's fc1 and fc2; `head` (norm and fc) trains.
  defaultTargets: ["mlp.fc1", "mlp.fc2"],
  defaultTrained: ["head.fc", "head.norm"],
  forward: convnextForward,
  describe: (cfg) => `ConvNeXt [${cfg.dims[0]}..${cfg.dims[cfg.dims.length - 1]}]/[${cfg.depths.join(",")}]`,
  checkpointFilter: (raw, cfg, opts) => convnextCheckpointFilter(raw, cfg, opts),
  // Arrows, not values: convnext-variants.ts imports this file, so its bindings are read only when called.
  variants: { names: () => convnextVariantNames(), resolve: (name, over) => convnextVariantOrNull(name, over) },
};
