/**
 * @file All renaming of foreign checkpoint layouts to timm's ViT keys, in one place: Google npz
 * (after timm's _load_weights), MAE and MoCo v3 PyTorch checkpoints, timm itself; pos_embed is
 * resampled when the checkpoint's grid differs from the model's.
 */
import { FormatError, unknownName } from "../errors.js";
import type { LayoutOptions } from "./backbone.js";
import type { RawTensor } from "./load.js";
import { resamplePosEmbed, squareGrid, type ResampleOptions } from "./pos-embed.js";
import type { CheckpointSource } from "./vit-variants.js";
import { VIT_CHECKPOINT_LAYOUTS, gridSize, numTokens, type VitConfig } from "./vit.js";

export type { CheckpointSource } from "./vit-variants.js";
export type { RawTensor } from "./load.js";

/** Options of checkpointFilter. */
export interface FilterOptions extends ResampleOptions {
  /** Where the checkpoint came from; named in error messages. */
  file?: string;
}

const TIMM_ROOTS = ["cls_token", "pos_embed", "patch_embed.", "blocks.", "norm.", "head."];
const isTimmKey = (k: string) => TIMM_ROOTS.some((r) => k === r || (r.endsWith(".") && k.startsWith(r)));

/** Row-major transpose of a tensor. */
export function permute(t: RawTensor, perm: readonly number[]): RawTensor {
  const { shape, data } = t;
  const rank = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(rank);
  for (let i = rank - 1, s = 1; i >= 0; i--) { inStrides[i] = s; s *= shape[i]!; }
  const strides = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = data[src]!;
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]!++;
      src += strides[a]!;
      if (idx[a]! < outShape[a]!) break;
      src -= strides[a]! * outShape[a]!;
      idx[a] = 0;
    }
  }
  return { shape: outShape, data: out };
}

const reshape = (t: RawTensor, shape: number[]): RawTensor => ({ shape, data: t.data });

function concat0(ts: RawTensor[]): RawTensor {
  const data = new Float32Array(ts.reduce((n, t) => n + t.data.length, 0));
  let off = 0;
  for (const t of ts) { data.set(t.data, off); off += t.data.length; }
  return { shape: [ts.reduce((n, t) => n + t.shape[0]!, 0), ...ts[0]!.shape.slice(1)], data };
}

/** Google/Flax npz -> timm, as timm's _load_weights (vision_transformer.py). */
function fromNpz(raw: ReadonlyMap<string, RawTensor>, where: string): Map<string, RawTensor> {
  const has = (k: string) => raw.has(k);
  let prefix = "";
  for (const p of ["", "opt/target/", "params/", "params/img/"]) if (has(`${p}embedding/kernel`)) { prefix = p; break; }
  if (!has(`${prefix}embedding/kernel`)) throw new FormatError(`${where}: not a ViT npz checkpoint (no "embedding/kernel")`);
  const stacked = has(`${prefix}Transformer/encoderblock/LayerNorm_0/scale`);
  const bigVision = prefix.startsWith("params/") || has(`${prefix}pos_embedding`) || stacked;
  const used = new Set<string>();
  const out = new Map<string, RawTensor>();

  // _n2p: optional index into a stacked (scan) axis, squeeze 1x1x1xN, then transpose to torch order.
  const n2p = (key: string, t = true, idx: number | null = null): RawTensor | null => {
    const w0 = raw.get(key);
    if (!w0) return null;
    used.add(key);
    let w: RawTensor = w0;
    if (idx !== null) {
      const per = w.data.length / w.shape[0]!;
      w = { shape: w.shape.slice(1), data: w.data.subarray(idx * per, (idx + 1) * per) };
    }
    if (w.shape.length === 4 && w.shape[0] === 1 && w.shape[1] === 1 && w.shape[2] === 1) w = reshape(w, [w.shape[3]!]);
    if (!t) return w;
    if (w.shape.length === 4) return permute(w, [3, 2, 0, 1]);
    if (w.shape.length === 3) return permute(w, [2, 0, 1]);
    if (w.shape.length === 2) return permute(w, [1, 0]);
    return w;
  };
  const put = (name: string, t: RawTensor | null) => { if (t) out.set(name, t); };
  const flat1 = (t: RawTensor) => reshape(t, [t.shape[0]!, t.data.length / t.shape[0]!]);

  put("patch_embed.proj.weight", n2p(`${prefix}embedding/kernel`));
  put("patch_embed.proj.bias", n2p(`${prefix}embedding/bias`));
  put("cls_token", n2p(`${prefix}cls`, false));
  put("pos_embed", n2p(bigVision ? `${prefix}pos_embedding` : `${prefix}Transformer/posembed_input/pos_embedding`, false));
  put("norm.weight", n2p(`${prefix}Transformer/encoder_norm/scale`));
  put("norm.bias", n2p(`${prefix}Transformer/encoder_norm/bias`));
  put("head.weight", n2p(`${prefix}head/kernel`));
  put("head.bias", n2p(`${prefix}head/bias`));

  const [mha, mlpSub, ln2] = bigVision ? [0, 0, 1] : [1, 3, 2];
  for (let i = 0; ; i++) {
    const bp = stacked ? `${prefix}Transformer/encoderblock/` : `${prefix}Transformer/encoderblock_${i}/`;
    const idx = stacked ? i : null;
    if (stacked ? i >= raw.get(`${bp}LayerNorm_0/scale`)!.shape[0]! : !has(`${bp}LayerNorm_0/scale`)) break;
    const mp = `${bp}MultiHeadDotProductAttention_${mha}/`, b = `blocks.${i}`;
    put(`${b}.norm1.weight`, n2p(`${bp}LayerNorm_0/scale`, true, idx));
    put(`${b}.norm1.bias`, n2p(`${bp}LayerNorm_0/bias`, true, idx));
    // query/key/value kernels are [D, heads, head_dim]: flatten to [D, D] (in, out), transpose, stack.
    const qkv = ["query", "key", "value"].map((n) => n2p(`${mp}${n}/kernel`, false, idx));
    if (qkv.every((t) => t)) put(`${b}.attn.qkv.weight`, concat0(qkv.map((t) => permute(flat1(t!), [1, 0]))));
    const qkvB = ["query", "key", "value"].map((n) => n2p(`${mp}${n}/bias`, false, idx));
    if (qkvB.every((t) => t)) put(`${b}.attn.qkv.bias`, concat0(qkvB.map((t) => reshape(t!, [t!.data.length]))));
    // out kernel [heads, head_dim, D] -> [D, heads, head_dim] -> [D, D]
    const o = n2p(`${mp}out/kernel`, true, idx);
    put(`${b}.attn.proj.weight`, o && flat1(o));
    put(`${b}.attn.proj.bias`, n2p(`${mp}out/bias`, true, idx));
    put(`${b}.norm2.weight`, n2p(`${bp}LayerNorm_${ln2}/scale`, true, idx));
    put(`${b}.norm2.bias`, n2p(`${bp}LayerNorm_${ln2}/bias`, true, idx));
    for (const r of [0, 1]) {
      put(`${b}.mlp.fc${r + 1}.weight`, n2p(`${bp}MlpBlock_${mlpSub}/Dense_${r}/kernel`, true, idx));
      put(`${b}.mlp.fc${r + 1}.bias`, n2p(`${bp}MlpBlock_${mlpSub}/Dense_${r}/bias`, true, idx));
    }
  }
  // The representation layer is unused (as in timm); anything else unmapped surfaces as unexpected.
  for (const [k, v] of raw) if (!used.has(k) && !k.startsWith(`${prefix}pre_logits/`)) out.set(k, v);
  return out;
}

/** MAE: timm names already; the decoder and mask token belong to pretraining only. */
function fromMae(raw: ReadonlyMap<string, RawTensor>): Map<string, RawTensor> {
  return new Map([...raw].filter(([k]) => !k.startsWith("decoder_") && k !== "mask_token"));
}

/**
 * MoCo v3: the query encoder is "[module.]base_encoder.*"; the momentum encoder and predictor
 * are dropped, and so is the projection head unless it is a plain head.{weight,bias} that fits.
 */
function fromMocov3(raw: ReadonlyMap<string, RawTensor>, cfg: VitConfig): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k0, v] of raw) {
    let k = k0.startsWith("module.") ? k0.slice("module.".length) : k0;
    if (k.startsWith("momentum_encoder.") || k.startsWith("predictor.")) continue;
    if (k.startsWith("base_encoder.")) k = k.slice("base_encoder.".length);
    if (k.startsWith("head.")) {
      const want = k === "head.weight" ? [cfg.numClasses, cfg.embedDim] : k === "head.bias" ? [cfg.numClasses] : null;
      if (!want || cfg.numClasses === 0 || want.join() !== v.shape.join()) continue;
    }
    out.set(k, v);
  }
  return out;
}

/** Flattened wrappers ("model.*", "state_dict.*") around a state dict, as timm's filter unwraps them. */
function unwrap(raw: ReadonlyMap<string, RawTensor>): ReadonlyMap<string, RawTensor> {
  const keys = [...raw.keys()];
  if (keys.some((k) => isTimmKey(k) || k.startsWith("module.") || k.includes("/"))) return raw;
  for (const w of ["model.", "state_dict."]) {
    if (keys.some((k) => k.startsWith(w))) return new Map(keys.filter((k) => k.startsWith(w)).map((k) => [k.slice(w.length), raw.get(k)!]));
  }
  return raw;
}

/**
 * Renames a checkpoint's tensors to timm's ViT keys and layouts, then resamples pos_embed to
 * the model's grid (timm: bicubic + antialias; npz: bilinear, no antialias, as _load_weights).
 * Keys it cannot place are passed through unchanged so that loadPretrained reports them.
 *
 * @example
 * const tensors = checkpointFilter(readNpz("ViT-B_16.npz"), cfg, "npz");
 * const report = loadPretrained(params, tensors);
 */
export function checkpointFilter(raw: ReadonlyMap<string, RawTensor>, cfg: VitConfig, source: CheckpointSource, opts: FilterOptions = {}): Map<string, RawTensor> {
  const where = opts.file ?? `${source} checkpoint`;
  const inner = unwrap(raw);
  let out: Map<string, RawTensor>;
  switch (source) {
    case "npz": out = fromNpz(inner, where); break;
    case "mae": out = fromMae(inner); break;
    case "mocov3": out = fromMocov3(inner, cfg); break;
    case "timm": out = new Map([...inner].filter(([k]) => !k.startsWith("pre_logits."))); break;
  }
  const pe = out.get("pos_embed");
  const T = numTokens(cfg), D = cfg.embedDim;
  if (pe && pe.shape.length === 3 && pe.shape[2] === D && pe.shape[1] !== T) {
    const old = squareGrid(pe.shape[1]! - 1, `${where}: pos_embed ${JSON.stringify(pe.shape)}`);
    const gs = gridSize(cfg);
    const defaults: ResampleOptions = source === "npz" ? { interpolation: "bilinear", antialias: false } : { interpolation: "bicubic", antialias: true };
    const data = resamplePosEmbed(pe.data, D, [old, old], [gs, gs], { ...defaults, ...pickResample(opts) });
    out.set("pos_embed", { shape: [1, T, D], data });
  }
  return out;
}

function pickResample(o: FilterOptions): ResampleOptions {
  const r: ResampleOptions = {};
  if (o.interpolation !== undefined) r.interpolation = o.interpolation;
  if (o.antialias !== undefined) r.antialias = o.antialias;
  return r;
}


/**
 * The ViT backbone's checkpointFilter: the layout `opts.source` forces (`--weights-format`), else the one
 * the keys show, else the tag's (`opts.hint`), else timm's.
 */
export function vitCheckpointFilter(raw: ReadonlyMap<string, RawTensor>, cfg: VitConfig, opts: LayoutOptions = {}): { tensors: Map<string, RawTensor>; source: string } {
  const source = opts.source ?? detectCheckpointSource(raw) ?? opts.hint ?? "timm";
  if (!(VIT_CHECKPOINT_LAYOUTS as readonly string[]).includes(source)) throw unknownName("ViT weights format", source, VIT_CHECKPOINT_LAYOUTS);
  return { tensors: checkpointFilter(raw, cfg, source as CheckpointSource, opts.file ? { file: opts.file } : {}), source };
}

/** Guesses a checkpoint's layout from its key names (for a CLI default); null when unsure. */
export function detectCheckpointSource(raw: ReadonlyMap<string, RawTensor>): CheckpointSource | null {
  const keys = [...unwrap(raw).keys()];
  if (keys.some((k) => k.endsWith("embedding/kernel"))) return "npz";
  if (keys.some((k) => k.startsWith("base_encoder.") || k.startsWith("module.base_encoder."))) return "mocov3";
  if (keys.some((k) => k.startsWith("decoder_") || k === "mask_token")) return "mae";
  if (keys.some(isTimmKey)) return "timm";
  return null;
}
