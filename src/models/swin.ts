/**
 * @file Swin Transformer in timm's current layout and parameter names (https://arxiv.org/abs/2103.14030,
 * timm/models/swin_transformer.py): shifted-window attention with a relative position bias, patch
 * merging at the start of stages 1.., a mean-pooled head; one graph with a hook at every adaptable linear.
 */
import { int8Linear } from "../ir/int8-matmul.js";
import { ConfigError, ShapeError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { fnv1a } from "../ir/ops/random.js";
import { ParameterStore, type ParamBinder } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import { truncNormal, type Rng } from "../random.js";
import { frozenLinearOf, type Backbone, type BackboneForwardOptions, type FrozenLinear, type ParamSpec, type SiteInfo, type SiteWeight } from "./backbone.js";
import { SWIN_LAYOUTS, swinCheckpointFilter } from "./swin-checkpoint.js";
import { swinVariantNames, swinVariantOrNull } from "./swin-variants.js";

/** Architecture of a Swin Transformer (timm's SwinTransformer, square input, no absolute position embedding). */
export interface SwinConfig {
  /** The backbone's name in models/registry.ts. */
  arch?: "swin";
  /** Square input side in pixels. */
  imgSize: number;
  patchSize: number;
  inChans: number;
  /** 0 means no head: the forward returns pooled features. */
  numClasses: number;
  /** Channels of stage 0; stage i has embedDim * 2^i. */
  embedDim: number;
  /** Blocks per stage. */
  depths: readonly number[];
  /** Attention heads per stage. */
  numHeads: readonly number[];
  /** Window side; a stage whose grid is no larger uses its whole grid as one window, unshifted (as timm). */
  windowSize: number;
  mlpRatio: number;
  qkvBias: boolean;
  /** LayerNorm epsilon; Swin uses torch's default 1e-5. */
  eps: number;
}

/** Every field of SwinConfig but `arch` (the `--arch key=value` keys). */
export const SWIN_CONFIG_KEYS = [
  "imgSize", "patchSize", "inChans", "numClasses", "embedDim", "depths", "numHeads", "windowSize", "mlpRatio", "qkvBias", "eps",
] as const satisfies readonly (keyof SwinConfig)[];
type Missing = Exclude<keyof SwinConfig, (typeof SWIN_CONFIG_KEYS)[number] | "arch">;
const _complete: Missing extends never ? true : never = true;
void _complete;

/** What one stage works on: its channels, heads, token grid side, window side and shift (0: none). */
export interface SwinStage { dim: number; heads: number; grid: number; window: number; shift: number; depth: number }

/** Per-stage geometry, as timm's _calc_window_shift for square grids. */
export function swinStages(cfg: SwinConfig): SwinStage[] {
  return cfg.depths.map((depth, i) => {
    const grid = cfg.imgSize / cfg.patchSize / 2 ** i;
    const covers = grid <= cfg.windowSize;
    return { dim: cfg.embedDim * 2 ** i, heads: cfg.numHeads[i]!, grid, window: covers ? grid : cfg.windowSize, shift: covers ? 0 : Math.floor(cfg.windowSize / 2), depth };
  });
}

const posInt = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 1;

/** Throws ConfigError naming the first inconsistent field. */
export function validateSwinConfig(cfg: SwinConfig): void {
  for (const k of ["imgSize", "patchSize", "inChans", "embedDim", "windowSize"] as const) {
    if (!posInt(cfg[k])) throw new ConfigError(`swin.${k} must be a positive integer, got ${cfg[k]}`);
  }
  if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 0) throw new ConfigError(`swin.numClasses must be an integer >= 0, got ${cfg.numClasses}`);
  if (!Array.isArray(cfg.depths) || cfg.depths.length < 1 || !cfg.depths.every(posInt)) throw new ConfigError(`swin.depths must be a non-empty list of positive integers, got ${JSON.stringify(cfg.depths)}`);
  if (!Array.isArray(cfg.numHeads) || cfg.numHeads.length !== cfg.depths.length || !cfg.numHeads.every(posInt)) {
    throw new ConfigError(`swin.numHeads must list one positive integer per stage (${cfg.depths.length}), got ${JSON.stringify(cfg.numHeads)}`);
  }
  if (cfg.imgSize % cfg.patchSize !== 0) throw new ConfigError(`swin.imgSize ${cfg.imgSize} is not a multiple of swin.patchSize ${cfg.patchSize}`);
  const grid0 = cfg.imgSize / cfg.patchSize;
  if (grid0 % 2 ** (cfg.depths.length - 1) !== 0) throw new ConfigError(`swin: the patch grid ${grid0} cannot be halved ${cfg.depths.length - 1} times (imgSize / patchSize must be a multiple of ${2 ** (cfg.depths.length - 1)})`);
  for (const [i, s] of swinStages(cfg).entries()) {
    if (s.grid % s.window !== 0) throw new ConfigError(`swin: stage ${i}'s grid ${s.grid} is not a multiple of swin.windowSize ${cfg.windowSize} (padding is not supported)`);
    if (s.dim % s.heads !== 0) throw new ConfigError(`swin: stage ${i}'s ${s.dim} channels are not divisible by its ${s.heads} heads`);
  }
  if (!(cfg.mlpRatio > 0) || !Number.isInteger(cfg.embedDim * cfg.mlpRatio)) throw new ConfigError(`swin.mlpRatio ${cfg.mlpRatio} must give an integer hidden size`);
  if (!(cfg.eps > 0)) throw new ConfigError(`swin.eps must be > 0, got ${cfg.eps}`);
}

/** Channels after the last stage (the final norm and the head's input). */
export const swinNumFeatures = (cfg: SwinConfig) => cfg.embedDim * 2 ** (cfg.depths.length - 1);

/** Every parameter in timm's state-dict order, with timm's names and shapes. */
export function swinParamSpecs(cfg: SwinConfig): ParamSpec[] {
  validateSwinConfig(cfg);
  const out: ParamSpec[] = [];
  const add = (name: string, shape: number[], init: string, decay = shape.length > 1) => out.push({ name, shape, init, decay });
  const linear = (name: string, nOut: number, nIn: number, bias = true, init = "trunc") => {
    add(`${name}.weight`, [nOut, nIn], init);
    if (bias) add(`${name}.bias`, [nOut], "zeros");
  };
  const norm = (name: string, d: number) => { add(`${name}.weight`, [d], "ones"); add(`${name}.bias`, [d], "zeros"); };
  const D = cfg.embedDim, p = cfg.patchSize;
  add("patch_embed.proj.weight", [D, cfg.inChans, p, p], "trunc");
  add("patch_embed.proj.bias", [D], "zeros");
  norm("patch_embed.norm", D);
  for (const [i, s] of swinStages(cfg).entries()) {
    if (i > 0) {
      norm(`layers.${i}.downsample.norm`, 2 * s.dim);
      linear(`layers.${i}.downsample.reduction`, s.dim, 2 * s.dim, false);
    }
    for (let j = 0; j < s.depth; j++) {
      const b = `layers.${i}.blocks.${j}`;
      norm(`${b}.norm1`, s.dim);
      // timm leaves the table out of weight decay (no_weight_decay).
      add(`${b}.attn.relative_position_bias_table`, [(2 * s.window - 1) ** 2, s.heads], "trunc", false);
      linear(`${b}.attn.qkv`, 3 * s.dim, s.dim, cfg.qkvBias);
      linear(`${b}.attn.proj`, s.dim, s.dim);
      norm(`${b}.norm2`, s.dim);
      linear(`${b}.mlp.fc1`, s.dim * cfg.mlpRatio, s.dim);
      linear(`${b}.mlp.fc2`, s.dim, s.dim * cfg.mlpRatio);
    }
  }
  norm("norm", swinNumFeatures(cfg));
  if (cfg.numClasses > 0) {
    add("head.fc.weight", [cfg.numClasses, swinNumFeatures(cfg)], "torch-linear");
    add("head.fc.bias", [cfg.numClasses], "torch-linear");
  }
  return out;
}

/**
 * How a new head starts (recorded in run.json). The authors' swin_timm.py leaves init_weights commented
 * out and builds the head at the task's class count, so it keeps torch's nn.Linear default (timm's own
 * Swin would use trunc_normal_(std=0.02)).
 */
export const SWIN_HEAD_INIT = "torch nn.Linear default (the authors' Swin skips init_weights): weight and bias U(-1/sqrt(in), 1/sqrt(in))";

/** Random init in timm's layout (trunc-normal 0.02 weights and tables, zero biases, LN ones/zeros; the head: SWIN_HEAD_INIT). All frozen. */
export function createSwinParams(cfg: SwinConfig, rng: Rng): ParameterStore {
  const ps = new ParameterStore();
  const bound = 1 / Math.sqrt(swinNumFeatures(cfg));
  for (const s of swinParamSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const data = s.init === "trunc" ? truncNormal(rng, n, 0.02)
      : s.init === "torch-linear" ? Float32Array.from({ length: n }, () => (2 * rng.uniform() - 1) * bound)
      : s.init === "ones" ? new Float32Array(n).fill(1) : new Float32Array(n);
    ps.add(s.name, s.shape, data, { trainable: false, decay: s.decay });
  }
  return ps;
}

const site = (path: string, nIn: number, nOut: number, block: number | null): SiteInfo =>
  ({ path, nIn, nOut, block, kind: path.slice(path.lastIndexOf(".") + 1) });

/** Adaptable sites in forward order: layers.i.blocks.j.attn.{q,k,v,proj}, .mlp.{fc1,fc2}, then head.fc; `block` runs over all stages. */
export function swinSites(cfg: SwinConfig): SiteInfo[] {
  validateSwinConfig(cfg);
  const out: SiteInfo[] = [];
  let block = 0;
  for (const [i, s] of swinStages(cfg).entries()) {
    for (let j = 0; j < s.depth; j++, block++) {
      const b = `layers.${i}.blocks.${j}`, H = s.dim * cfg.mlpRatio;
      for (const k of ["q", "k", "v", "proj"]) out.push(site(`${b}.attn.${k}`, s.dim, s.dim, block));
      out.push(site(`${b}.mlp.fc1`, s.dim, H, block), site(`${b}.mlp.fc2`, H, s.dim, block));
    }
  }
  if (cfg.numClasses > 0) out.push(site("head.fc", swinNumFeatures(cfg), cfg.numClasses, null));
  return out;
}

/** The weight a site reads: q, k and v are thirds of timm's fused qkv (before q's scaling), every other site its own linear. */
export function swinSiteWeight(cfg: SwinConfig, s: SiteInfo): SiteWeight {
  const m = /^(layers\.\d+\.blocks\.\d+\.attn)\.(q|k|v)$/.exec(s.path);
  if (m) return { weight: `${m[1]}.qkv.weight`, bias: cfg.qkvBias ? `${m[1]}.qkv.bias` : null, rowOffset: "qkv".indexOf(m[2]!) * s.nOut };
  return { weight: `${s.path}.weight`, bias: `${s.path}.bias`, rowOffset: 0 };
}

/** Relative position index [N*N] of a ws x ws window into the (2ws-1)^2 table (the authors' relative_position_index). */
export function relativePositionIndex(ws: number): number[] {
  const N = ws * ws, out: number[] = [];
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < N; j++) {
      const dh = Math.floor(i / ws) - Math.floor(j / ws) + ws - 1, dw = (i % ws) - (j % ws) + ws - 1;
      out.push(dh * (2 * ws - 1) + dw);
    }
  }
  return out;
}

/**
 * The shifted windows' attention mask [nW, N, N]: -100 between tokens that came from different regions
 * of the rolled grid (the authors' attn_mask; -100, not -inf, so a softmax row never sees only -inf).
 */
export function shiftedWindowMask(grid: number, ws: number, shift: number): Float32Array {
  const region = (r: number) => (r < grid - ws ? 0 : r < grid - shift ? 1 : 2);
  const nw = grid / ws, N = ws * ws, out = new Float32Array(nw * nw * N * N);
  const id = (wh: number, ww: number, t: number) => region(wh * ws + Math.floor(t / ws)) * 3 + region(ww * ws + (t % ws));
  for (let wh = 0; wh < nw; wh++) {
    for (let ww = 0; ww < nw; ww++) {
      const base = (wh * nw + ww) * N * N;
      for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) if (id(wh, ww, i) !== id(wh, ww, j)) out[base + i * N + j] = -100;
    }
  }
  return out;
}

/** Graph-building context shared by the layer helpers below. */
class Ctx {
  readonly sites: Map<string, SiteInfo>;
  readonly totalBlocks: number;
  constructor(readonly g: GraphBuilder, readonly bind: ParamBinder, readonly cfg: SwinConfig, readonly opts: BackboneForwardOptions, readonly B: number) {
    this.sites = new Map(swinSites(cfg).map((s) => [s.path, s]));
    this.totalBlocks = cfg.depths.reduce((a, b) => a + b, 0);
  }

  /** timm's nn.Linear on rows [M, in], the weight kept [out, in]: one Gemm(transB). */
  linear(name: string, x: Value, bias = true): Value {
    const b = bias ? this.bind.get(`${name}.bias`) : null;
    const q = this.bind.int8(`${name}.weight`);
    if (q) return this.g.scope(name, () => int8Linear(this.g, x, q, b));
    return this.g.scope(name, () => this.g.Gemm(x, this.bind.get(`${name}.weight`), b, { transB: 1 }));
  }

  norm(name: string, x: Value): Value {
    const { g, bind } = this;
    return g.scope(name, () => g.LayerNormalization(x, bind.get(`${name}.weight`), bind.get(`${name}.bias`), { axis: -1, epsilon: this.cfg.eps }));
  }

  /** Lets the adapter rewrite site `path`'s output; `samples` groups the rows (windows or images: the adapter drop-path unit). */
  hook(path: string, x: Value, y: Value, samples: number): Value {
    const adapt = this.opts.adapt;
    if (!adapt) return y;
    const s = this.sites.get(path)!;
    const frozen = (): FrozenLinear => {
      const w = swinSiteWeight(this.cfg, s), lo = w.rowOffset;
      return frozenLinearOf(this.bind, w.weight, w.bias, [lo, lo + s.nOut]);
    };
    return this.g.scope(path, () => adapt(s, x, y, frozen, samples));
  }

  /** A residual branch [B*L, C] through block `index`'s DropPath: rate linspace(0, rate, blocks)[index], per image. */
  dropPath(name: string, index: number, branch: Value): Value {
    const dp = this.opts.dropPath;
    const p = dp && this.totalBlocks > 1 ? (dp.rate * index) / (this.totalBlocks - 1) : 0;
    if (!dp || p === 0) return branch;
    const [M, C] = branch.shape as [number, number];
    return this.g.scope(name, () => this.g.Reshape(this.g.dropPath(this.g.Reshape(branch, [this.B, M / this.B, C]), p, dp.seed, fnv1a(name)), [M, C]));
  }
}

/** Conv2d(stride = kernel) as patches @ W^T, then patch_embed.norm: [B, C, H, W] -> rows [B*G*G, D] in (b, h, w) order. */
function embed(c: Ctx, images: Value): Value {
  const { g, bind, cfg, B } = c;
  const [, C, Hh, W] = images.shape as [number, number, number, number];
  if (images.rank !== 4 || C !== cfg.inChans || Hh !== cfg.imgSize || W !== cfg.imgSize) {
    throw new ShapeError(`swin forward: images must be [B, ${cfg.inChans}, ${cfg.imgSize}, ${cfg.imgSize}], got [${images.shape.join(", ")}]`);
  }
  const p = cfg.patchSize, gs = cfg.imgSize / p, D = cfg.embedDim;
  const rows = g.scope("patch_embed.proj", () => {
    const patches = g.Reshape(g.Transpose(g.Reshape(images, [B, C, gs, p, gs, p]), [0, 2, 4, 1, 3, 5]), [B * gs * gs, C * p * p]);
    return g.Gemm(patches, g.Reshape(bind.get("patch_embed.proj.weight"), [D, C * p * p]), bind.get("patch_embed.proj.bias"), { transB: 1 });
  });
  return c.norm("patch_embed.norm", rows);
}

/** torch.roll(x, s, axis) on a static axis: the last s entries moved to the front, as Slice + Concat. */
function roll(g: GraphBuilder, x: Value, s: number, axis: number): Value {
  const n = x.shape[axis]!, k = ((s % n) + n) % n;
  if (k === 0) return x;
  return g.Concat([g.Slice(x, [n - k], [n], [axis]), g.Slice(x, [0], [n - k], [axis])], axis);
}

/** [B, G, G, C] -> windows' rows [B*nW*N, C], windows in (b, wh, ww) order and tokens row-major inside each. */
function partition(g: GraphBuilder, x: Value, ws: number): Value {
  const [B, G, , C] = x.shape as [number, number, number, number];
  return g.Reshape(g.Transpose(g.Reshape(x, [B, G / ws, ws, G / ws, ws, C]), [0, 1, 3, 2, 4, 5]), [B * G * G, C]);
}

/** The inverse of partition: rows [B*nW*N, C] -> [B, G, G, C]. */
function unpartition(g: GraphBuilder, rows: Value, B: number, G: number, ws: number): Value {
  const C = rows.shape[1]!;
  return g.Reshape(g.Transpose(g.Reshape(rows, [B, G / ws, G / ws, ws, ws, C]), [0, 1, 3, 2, 4, 5]), [B, G, G, C]);
}

/** Window attention on rows [B*nW*N, C]; q, k, v, proj are sites whose `samples` are the B*nW windows. */
function windowAttention(c: Ctx, a: string, h: Value, s: SwinStage): Value {
  const { g, B } = c;
  const C = s.dim, nh = s.heads, hd = C / nh, ws = s.window, N = ws * ws, nW = (s.grid / ws) ** 2, Bw = B * nW;
  const qkv = c.linear(`${a}.qkv`, h, c.cfg.qkvBias);
  const [q0, k0, v0] = g.scope(`${a}.qkv`, () => g.Split(qkv, [C, C, C], 1)) as [Value, Value, Value];
  const q = c.hook(`${a}.q`, h, q0, Bw), k = c.hook(`${a}.k`, h, k0, Bw), v = c.hook(`${a}.v`, h, v0, Bw);
  const o = g.scope(a, () => {
    const heads = (t: Value, perm: number[]) => g.Transpose(g.Reshape(t, [Bw, N, nh, hd]), perm);
    const qh = g.Mul(heads(q, [0, 2, 1, 3]), g.scalar(hd ** -0.5, q.dtype));
    const scores = g.MatMul(qh, heads(k, [0, 2, 3, 1])); // [Bw, nh, N, N]
    // The table is a parameter; the index is a constant of the window size.
    const table = c.bind.get(`${a}.relative_position_bias_table`);
    const bias = g.Transpose(g.Reshape(g.Gather(table, g.constant(relativePositionIndex(ws), [N * N], "int64"), 0), [N, N, nh]), [2, 0, 1]);
    let attn: Value;
    if (s.shift > 0) {
      // bias [nh, N, N] + mask [nW, 1, N, N] once, then one broadcast Add over the windows of every image.
      const biasMask = g.Add(bias, g.constant(shiftedWindowMask(s.grid, ws, s.shift), [nW, 1, N, N]));
      attn = g.Reshape(g.Add(g.Reshape(scores, [B, nW, nh, N, N]), biasMask), [Bw, nh, N, N]);
    } else {
      attn = g.Add(scores, bias);
    }
    return g.Reshape(g.Transpose(g.MatMul(g.Softmax(attn, -1), heads(v, [0, 2, 1, 3])), [0, 2, 1, 3]), [Bw * N, C]);
  });
  return c.hook(`${a}.proj`, o, c.linear(`${a}.proj`, o), Bw);
}

/** One block on rows [B*G*G, C]: (shifted) window attention and the MLP, each a residual with drop-path. */
function block(c: Ctx, i: number, j: number, index: number, x: Value, s: SwinStage): Value {
  const { g, B } = c;
  const b = `layers.${i}.blocks.${j}`, G = s.grid, C = s.dim;
  // Odd blocks shift by window/2, except where one window covers the grid (timm, the authors).
  const shift = j % 2 === 1 ? s.shift : 0;
  const grid = g.Reshape(c.norm(`${b}.norm1`, x), [B, G, G, C]);
  const shifted = roll(g, roll(g, grid, -shift, 1), -shift, 2);
  const attn = windowAttention(c, `${b}.attn`, partition(g, shifted, s.window), { ...s, shift });
  const back = roll(g, roll(g, unpartition(g, attn, B, G, s.window), shift, 1), shift, 2);
  x = g.Add(x, c.dropPath(`${b}.drop_path1`, index, g.Reshape(back, [B * G * G, C])));
  const h = c.norm(`${b}.norm2`, x), m = `${b}.mlp`;
  const y1 = c.hook(`${m}.fc1`, h, c.linear(`${m}.fc1`, h), B);
  const u = g.scope(`${m}.act`, () => g.gelu(y1));
  return g.Add(x, c.dropPath(`${b}.drop_path2`, index, c.hook(`${m}.fc2`, u, c.linear(`${m}.fc2`, u), B)));
}

/**
 * Patch merging at the start of stage i: each 2x2 neighbourhood's tokens concatenated as timm's
 * x0 (0,0), x1 (1,0), x2 (0,1), x3 (1,1) (row, column), then norm and a bias-free reduction: [B*G*G, C] -> [B*G*G/4, 2C].
 */
function merge(c: Ctx, i: number, x: Value, G: number): Value {
  const { g, B } = c;
  const C = x.shape[1]!, name = `layers.${i}.downsample`;
  const cat = g.scope(name, () => g.Reshape(g.Transpose(g.Reshape(x, [B, G / 2, 2, G / 2, 2, C]), [0, 1, 3, 4, 2, 5]), [B * (G / 2) ** 2, 4 * C]));
  return c.linear(`${name}.reduction`, c.norm(`${name}.norm`, cat), false);
}

/** images [B, inChans, imgSize, imgSize] -> logits [B, numClasses], or the pooled, normalised features [B, C]. */
export function swinForward(g: GraphBuilder, bind: ParamBinder, cfg: SwinConfig, images: Value, opts: BackboneForwardOptions = {}): Value {
  const B = images.shape[0]!;
  const c = new Ctx(g, bind, cfg, opts, B);
  let x = embed(c, images);
  let index = 0;
  for (const [i, s] of swinStages(cfg).entries()) {
    if (i > 0) x = merge(c, i, x, s.grid * 2);
    for (let j = 0; j < s.depth; j++) x = block(c, i, j, index++, x, s);
  }
  const F = swinNumFeatures(cfg), L = x.shape[0]! / B;
  const pooled = g.scope("head.global_pool", () => g.ReduceMean(g.Reshape(c.norm("norm", x), [B, L, F]), [1], 0));
  if (opts.features || cfg.numClasses === 0) return pooled;
  return c.hook("head.fc", pooled, c.linear("head.fc", pooled), B);
}

/** The Swin backbone (registered as "swin" in models/registry.ts). */
export const swin: Backbone<SwinConfig> = {
  arch: "swin",
  configKeys: SWIN_CONFIG_KEYS,
  validate: validateSwinConfig,
  paramSpecs: swinParamSpecs,
  createParams: createSwinParams,
  sites: swinSites,
  siteWeight: swinSiteWeight,
  // The authors' swin_timm.py: q, k, v, proj, fc1, fc2 adapted; the head trained.
  defaultTargets: ["attn.q", "attn.k", "attn.v", "attn.proj", "mlp.fc1", "mlp.fc2"],
  defaultTrained: ["head.fc"],
  forward: swinForward,
  headInit: SWIN_HEAD_INIT,
  describe: (cfg) => `Swin ${cfg.embedDim}/[${cfg.depths.join(",")}]`,
  checkpointFilter: (raw, _cfg, opts) => swinCheckpointFilter(raw, opts),
  checkpointLayouts: SWIN_LAYOUTS,
  // Arrows, not values: swin-variants.ts imports this file, so its bindings are read only when called.
  variants: { names: () => swinVariantNames(), resolve: (name, over) => swinVariantOrNull(name, over) },
};
