/**
 * @file Swin checkpoints in every layout people have, renamed to timm's current keys (the internal
 * layout): Microsoft's original `.pth` ({'model': state dict}, `layers.N.downsample` at the END of stage
 * N, `head`, persistent `relative_position_index` / `attn_mask` buffers; also timm before 0.9) and
 * timm / Hugging Face Hub safetensors (`layers.N+1.downsample` at the start of stage N+1, `head.fc`).
 * As timm's swin_transformer.checkpoint_filter_fn.
 */
import { ConfigError } from "../errors.js";
import type { LayoutOptions } from "./backbone.js";
import type { RawTensor } from "./load.js";

/** Which layout a Swin state dict uses. */
export type SwinLayout = "timm" | "original";
/** The layouts swinCheckpointFilter accepts as `opts.source`. */
export const SWIN_LAYOUTS: readonly SwinLayout[] = ["timm", "original"];

/** Buffers the original layout stores and timm recomputes (non-persistent there): dropped. */
const BUFFERS = ["relative_position_index", "attn_mask", "relative_coords_table"];

/** Strips the wrappers a .pth may leave when read flat ("model.", "state_dict.", DataParallel's "module."). */
function unwrap(raw: ReadonlyMap<string, RawTensor>): ReadonlyMap<string, RawTensor> {
  const keys = [...raw.keys()];
  for (const w of ["model.", "state_dict.", "module."]) {
    if (keys.length && keys.every((k) => k.startsWith(w))) return unwrap(new Map(keys.map((k) => [k.slice(w.length), raw.get(k)!])));
  }
  return raw;
}

/**
 * The layout of a Swin state dict, from its keys: a stage-0 downsample, a bare `head.*` or the stored
 * buffers only exist in the original layout (a headless timm checkpoint has none of them).
 */
export function detectSwinLayout(raw: ReadonlyMap<string, RawTensor>): SwinLayout {
  for (const k of unwrap(raw).keys()) {
    if (k.startsWith("layers.0.downsample.") || k === "head.weight" || k === "head.bias" || BUFFERS.some((b) => k.endsWith(`.${b}`))) return "original";
  }
  return "timm";
}

/**
 * Renames a Swin checkpoint's tensors to timm's current keys: drops the stored buffers, moves
 * `layers.N.downsample` to `layers.N+1.downsample` and `head.` to `head.fc.` when the layout is the
 * original one (detected from the keys unless `opts.source` forces one). Keys it cannot place pass
 * through unchanged, so that loadPretrained reports them (strict: a ConfigError; otherwise in the
 * report's unexpected list).
 *
 * @example
 * const { tensors } = swinCheckpointFilter(readPth("swin_base_patch4_window7_224_22k.pth").tensors);
 * const report = loadPretrained(params, tensors);
 */
export function swinCheckpointFilter(raw: ReadonlyMap<string, RawTensor>, opts: LayoutOptions = {}): { tensors: Map<string, RawTensor>; source: SwinLayout } {
  const inner = unwrap(raw);
  if (opts.source !== undefined && !(SWIN_LAYOUTS as readonly string[]).includes(opts.source)) {
    throw new ConfigError(`${opts.file ?? "Swin checkpoint"}: unknown Swin weight layout "${opts.source}"; expected one of ${SWIN_LAYOUTS.join(", ")}`);
  }
  const source = (opts.source as SwinLayout | undefined) ?? detectSwinLayout(inner);
  const tensors = new Map<string, RawTensor>();
  for (const [k0, v] of inner) {
    if (BUFFERS.some((b) => k0.endsWith(`.${b}`) || k0 === b)) continue;
    let k = k0;
    if (source === "original") {
      k = k.replace(/^layers\.(\d+)\.downsample\./, (_, n: string) => `layers.${Number(n) + 1}.downsample.`);
      if (k.startsWith("head.")) k = `head.fc.${k.slice("head.".length)}`;
    }
    tensors.set(k, v);
  }
  return { tensors, source };
}
