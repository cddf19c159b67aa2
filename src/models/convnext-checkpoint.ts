/**
 * @file ConvNeXt checkpoints in every layout people have, renamed to timm's current keys (the internal
 * layout): Facebook's original `.pth` ({'model': state dict}: `downsample_layers.N.{0,1}`,
 * `stages.N.M.{dwconv,pwconv1,pwconv2,gamma}`, top-level `norm` and `head`), the SNELL authors' older
 * timm names (`stem.proj/norm`, `downsample.norm/proj`), Hugging Face transformers' ConvNextModel, and
 * timm / Hub safetensors as they are. The FB rules are timm's convnext.checkpoint_filter_fn.
 */
import { ConfigError } from "../errors.js";
import type { LayoutOptions } from "./backbone.js";
import type { ConvNextConfig } from "./convnext.js";
import type { RawTensor } from "./load.js";

/** Which layout a ConvNeXt state dict uses. */
export type ConvNextLayout = "timm" | "fb" | "snell" | "hf";
const LAYOUTS: readonly ConvNextLayout[] = ["timm", "fb", "snell", "hf"];

/** Strips the wrappers a .pth may leave when read flat ("model.", "state_dict.", DataParallel's "module."). */
function unwrap(raw: ReadonlyMap<string, RawTensor>): ReadonlyMap<string, RawTensor> {
  const keys = [...raw.keys()];
  for (const w of ["model.", "state_dict.", "module."]) {
    if (keys.length && keys.every((k) => k.startsWith(w))) return unwrap(new Map(keys.map((k) => [k.slice(w.length), raw.get(k)!])));
  }
  return raw;
}

/** The layout of a ConvNeXt state dict, from keys only one layout has; timm when none says otherwise. */
export function detectConvNextLayout(raw: ReadonlyMap<string, RawTensor>): ConvNextLayout {
  const keys = [...unwrap(raw).keys()];
  // HF names its convs dwconv / pwconv as FB does, so its prefix is asked first.
  if (keys.some((k) => k.startsWith("convnext.") || k.startsWith("classifier."))) return "hf";
  if (keys.some((k) => k.startsWith("downsample_layers.") || /\.dwconv\./.test(k))) return "fb";
  if (keys.some((k) => k.startsWith("stem.proj.") || /\.downsample\.(norm|proj)\./.test(k))) return "snell";
  return "timm";
}

/** FB -> timm, rule for rule as timm's checkpoint_filter_fn. */
function fromFb(k: string): string {
  k = k.replace(/^downsample_layers\.0\./, "stem.");
  k = k.replace(/^stages\.(\d+)\.(\d+)\./, "stages.$1.blocks.$2.");
  k = k.replace(/^downsample_layers\.(\d+)\.(\d+)\./, "stages.$1.downsample.$2.");
  k = k.replace(".dwconv.", ".conv_dw.").replace(/\.pwconv(\d)\./, ".mlp.fc$1.");
  if (k.startsWith("head.")) k = `head.fc.${k.slice(5)}`;
  if (k.startsWith("norm.")) k = `head.${k}`;
  return k;
}

/** The SNELL authors' model/convnext_timm.py (timm 0.5 names) -> timm. */
function fromSnell(k: string): string {
  return k.replace(/^stem\.proj\./, "stem.0.").replace(/^stem\.norm\./, "stem.1.")
    .replace(/\.downsample\.norm\./, ".downsample.0.").replace(/\.downsample\.proj\./, ".downsample.1.");
}

/** Hugging Face transformers' ConvNextForImageClassification -> timm. */
function fromHf(k: string): string {
  if (k.startsWith("classifier.")) return `head.fc.${k.slice("classifier.".length)}`;
  k = k.replace(/^convnext\./, "");
  k = k.replace(/^embeddings\.patch_embeddings\./, "stem.0.").replace(/^embeddings\.layernorm\./, "stem.1.");
  k = k.replace(/^encoder\.stages\.(\d+)\.downsampling_layer\.(\d+)\./, "stages.$1.downsample.$2.");
  k = k.replace(/^encoder\.stages\.(\d+)\.layers\.(\d+)\./, "stages.$1.blocks.$2.");
  k = k.replace(".dwconv.", ".conv_dw.").replace(/\.pwconv(\d)\./, ".mlp.fc$1.").replace(".layernorm.", ".norm.");
  k = k.replace(/\.layer_scale_parameter$/, ".gamma");
  if (k.startsWith("layernorm.")) k = `head.norm.${k.slice("layernorm.".length)}`;
  return k;
}

const RENAME: Record<ConvNextLayout, (k: string) => string> = { timm: (k) => k, fb: fromFb, snell: fromSnell, hf: fromHf };

/**
 * Renames a ConvNeXt checkpoint's tensors to timm's current keys (layout detected from the keys unless
 * `opts.source` forces one). FB's 1x1-conv variants store fc weights [out, in, 1, 1]: reshaped to
 * [out, in], as timm does. Keys it cannot place pass through unchanged, so that loadPretrained
 * reports them (strict: a ConfigError; otherwise in the report's unexpected list).
 *
 * @example
 * const { tensors } = convnextCheckpointFilter(readPth("convnext_base_22k_224.pth").tensors, cfg);
 * const report = loadPretrained(params, tensors);
 */
export function convnextCheckpointFilter(raw: ReadonlyMap<string, RawTensor>, _cfg: ConvNextConfig, opts: LayoutOptions = {}): { tensors: Map<string, RawTensor>; source: ConvNextLayout } {
  if (opts.source !== undefined && !(LAYOUTS as readonly string[]).includes(opts.source)) {
    throw new ConfigError(`${opts.file ?? "ConvNeXt checkpoint"}: unknown ConvNeXt weight layout "${opts.source}"; expected one of ${LAYOUTS.join(", ")}`);
  }
  const inner = unwrap(raw);
  const source = (opts.source as ConvNextLayout | undefined) ?? detectConvNextLayout(inner);
  const tensors = new Map<string, RawTensor>();
  for (const [k0, v] of inner) {
    const k = RENAME[source](k0);
    const pointwise = /\.mlp\.fc\d\.weight$/.test(k) && v.shape.length === 4 && v.shape[2] === 1 && v.shape[3] === 1;
    tensors.set(k, pointwise ? { shape: v.shape.slice(0, 2), data: v.data } : v);
  }
  return { tensors, source };
}
