/**
 * @file Preprocessing presets as plain data, and their random parameters drawn from (seed, epoch, index).
 * Geometry follows torchvision (Resize, CenterCrop, RandomResizedCrop); ColorJitter uses its tensor semantics.
 */
import { ConfigError, unknownName } from "../errors.js";
import { Rng } from "../random.js";

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

export type Interpolation = "nearest" | "bilinear" | "bicubic" | "lanczos";
const INTERPOLATIONS: readonly Interpolation[] = ["nearest", "bilinear", "bicubic", "lanczos"];

/** How the image is brought to size x size. */
export type Geometry =
  /** Direct resize to size x size, aspect ratio ignored (VTAB-1k as SNELL/NOAH prepare it). */
  | { kind: "resize" }
  /** Resize the shorter side to resizeSize, then center-crop size x size (eval). */
  | { kind: "resize-crop"; resizeSize: number }
  /** torchvision RandomResizedCrop, resized to size x size. */
  | { kind: "random-resized-crop"; scale: [number, number]; ratio: [number, number] };

/** A whole preprocessing pipeline, JSON-serialisable so workers receive it as is. */
export interface TransformSpec {
  /** Output height = width. */
  size: number;
  geometry: Geometry;
  interpolation: Interpolation;
  /** Probability of a horizontal flip. */
  hflip: number;
  /** ColorJitter strengths (0 = off); factors are drawn from [max(0, 1 - x), 1 + x]. */
  colorJitter: { brightness: number; contrast: number; saturation: number };
  /**
   * Channels of the output tensor: 3 (RGB) or 1 (grey, PIL's convert("L") luma of the RGB pixels).
   * Images of any channel count are decoded to RGB first, so a grey or RGBA file fits either model.
   */
  channels: 1 | 3;
  /** Per-channel normalisation, one value per output channel. */
  mean: readonly number[];
  std: readonly number[];
}

export const PRESETS = ["snell-vtab", "snell-fgvc", "timm"] as const;
export type PresetName = (typeof PRESETS)[number];

export interface PresetOptions {
  /** Training (random augmentation where the preset has any) or evaluation. */
  train: boolean;
  /** Output size; 224 by default. */
  size?: number;
  /** Output channels (the model's inChans): 3 by default, or 1 for grey models. */
  channels?: number;
  /** Per-channel mean/std, one value per channel; ImageNet's by default for 3 channels (timm: pass the model's pretrained config). */
  mean?: readonly number[];
  std?: readonly number[];
  /**
   * Default bicubic (SNELL's code and timm's ViT configs), except the `snell-fgvc` eval resize, which
   * is bilinear as the authors' build_transform (`transforms.Resize(scale_size, bilinear)`).
   */
  interpolation?: Interpolation;
  /** timm eval: the shorter side is resized to floor(size / cropPct); default 0.875 (224 -> 256). */
  cropPct?: number;
}

/**
 * Builds a preset's pipeline:
 * - `snell-vtab`: bicubic resize straight to size x size, no augmentation, train and eval alike.
 * - `snell-fgvc`: train RandomResizedCrop(0.08-1, 3/4-4/3) + flip + ColorJitter(0.4, 0.4, 0.4);
 *   eval bilinear resize of the shorter side to 256 (size * 256/224) then center-crop.
 * - `timm`: timm's create_transform without auto-augment: train as snell-fgvc, eval resize to floor(size/cropPct) then crop.
 */
export function makeTransform(preset: PresetName, opts: PresetOptions): TransformSpec {
  if (!PRESETS.includes(preset)) throw unknownName("preprocessing preset", preset, PRESETS);
  const size = opts.size ?? 224;
  if (!Number.isInteger(size) || size < 1) throw new ConfigError(`preprocessing size must be a positive integer, got ${size}`);
  const fgvcEval = preset === "snell-fgvc" && !opts.train;
  const interpolation = opts.interpolation ?? (fgvcEval ? "bilinear" : "bicubic");
  if (!INTERPOLATIONS.includes(interpolation)) throw unknownName("interpolation", interpolation, INTERPOLATIONS);
  const channels = opts.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new ConfigError(`images can be given to models of 1 or 3 input channels, got ${channels}`);
  if (channels !== 3 && (!opts.mean || !opts.std)) {
    throw new ConfigError(`a ${channels}-channel model needs its own mean/std (ImageNet's are for RGB); pass --mean and --std with ${channels} value(s)`);
  }
  const mean = opts.mean ?? IMAGENET_MEAN;
  const std = opts.std ?? IMAGENET_STD;
  if (mean.length !== channels || std.length !== channels || mean.some((m) => !Number.isFinite(m)) || std.some((s) => !(s > 0 && Number.isFinite(s)))) {
    throw new ConfigError(`mean/std must hold ${channels} value(s) each (one per model input channel) with std > 0, got mean [${mean.join(", ")}] std [${std.join(", ")}]`);
  }
  const cropPct = opts.cropPct ?? (preset === "snell-fgvc" ? 224 / 256 : 0.875);
  if (!(cropPct > 0 && cropPct <= 1)) throw new ConfigError(`cropPct must be in (0, 1], got ${cropPct}`);
  const base = { size, interpolation, channels: channels as 1 | 3, mean: [...mean], std: [...std], hflip: 0, colorJitter: { brightness: 0, contrast: 0, saturation: 0 } };
  if (preset === "snell-vtab") return { ...base, geometry: { kind: "resize" } };
  if (opts.train) {
    return {
      ...base,
      geometry: { kind: "random-resized-crop", scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
      hflip: 0.5,
      colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4 },
    };
  }
  return { ...base, geometry: { kind: "resize-crop", resizeSize: Math.floor(size / cropPct + 1e-9) } };
}

/** Floats per transformed sample: channels x size x size. */
export function sampleLength(spec: Pick<TransformSpec, "channels" | "size">): number {
  return (spec.channels ?? 3) * spec.size * spec.size;
}

/**
 * Why images from `t` cannot feed a model taking inChans x imgSize x imgSize, or null when they fit.
 * The trainer calls it before building a loader (the message names both shapes).
 */
export function transformMismatch(t: TransformSpec, inChans: number, imgSize: number): string | null {
  const c = t.channels ?? 3;
  if (c === inChans && t.size === imgSize) return null;
  return `the transform gives ${c}x${t.size}x${t.size} images, the model takes ${inChans}x${imgSize}x${imgSize}`;
}

/** Whether the pipeline draws random numbers (if not, every epoch gives the same tensors). */
export function isRandom(spec: TransformSpec): boolean {
  const j = spec.colorJitter;
  return spec.geometry.kind === "random-resized-crop" || spec.hflip > 0 || j.brightness > 0 || j.contrast > 0 || j.saturation > 0;
}

function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A 32-bit seed that depends on all three numbers; the stream of sample `index` in `epoch`. */
export function mixSeed(seed: number, epoch: number, index: number): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  h = fmix32((h + Math.imul(epoch >>> 0, 0x27d4eb2f)) >>> 0);
  return fmix32((h + Math.imul(index >>> 0, 0x165667b1)) >>> 0);
}

/** Crop box in source pixels. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export type JitterOp = { op: "brightness" | "contrast" | "saturation"; factor: number };

/** Everything random about one sample, drawn once its source size is known. */
export interface SampleParams {
  /** Region of the source taken before resizing (RandomResizedCrop); null = whole image. */
  crop: Box | null;
  flip: boolean;
  /** Applied in this order. */
  jitter: JitterOp[];
}

/** torchvision RandomResizedCrop.get_params, drawn from our Rng. */
export function randomResizedCropBox(rng: Rng, width: number, height: number, scale: [number, number], ratio: [number, number]): Box {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * (scale[0] + (scale[1] - scale[0]) * rng.uniform());
    const aspect = Math.exp(logLo + (logHi - logLo) * rng.uniform());
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: rng.int(height - h + 1), left: rng.int(width - w + 1), width: w, height: h };
    }
  }
  // Fallback to a central crop, as torchvision does.
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = roundHalfEven(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = roundHalfEven(h * Math.max(...ratio));
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), width: w, height: h };
}

/** Draws the sample's random parameters; the same (seed, epoch, index, size) always gives the same ones. */
export function drawParams(spec: TransformSpec, width: number, height: number, seed: number, epoch: number, index: number): SampleParams {
  if (!isRandom(spec)) return { crop: null, flip: false, jitter: [] };
  const rng = new Rng(mixSeed(seed, epoch, index));
  const g = spec.geometry;
  const crop = g.kind === "random-resized-crop" ? randomResizedCropBox(rng, width, height, g.scale, g.ratio) : null;
  const flip = spec.hflip > 0 && rng.uniform() < spec.hflip;
  // torchvision draws a permutation of its four ops (hue is off here), then one factor per enabled op.
  const order = [0, 1, 2, 3];
  const j = spec.colorJitter;
  const jitter: JitterOp[] = [];
  if (j.brightness > 0 || j.contrast > 0 || j.saturation > 0) {
    for (let i = order.length - 1; i > 0; i--) {
      const k = rng.int(i + 1);
      [order[i], order[k]] = [order[k]!, order[i]!];
    }
    const factor = (x: number) => (x > 0 ? Math.max(0, 1 - x) + (1 + x - Math.max(0, 1 - x)) * rng.uniform() : 1);
    const f = { brightness: factor(j.brightness), contrast: factor(j.contrast), saturation: factor(j.saturation) };
    const names = ["brightness", "contrast", "saturation"] as const;
    for (const o of order) {
      const name = names[o];
      if (name && j[name] > 0) jitter.push({ op: name, factor: f[name] });
    }
  }
  return { crop, flip, jitter };
}

/** Python's round(): half to even (torchvision CenterCrop uses it). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Output size of torchvision Resize(s) on a width x height image: the shorter side becomes s. */
export function shorterSideSize(width: number, height: number, s: number): [number, number] {
  if (width <= height) return [s, Math.floor((s * height) / width)];
  return [Math.floor((s * width) / height), s];
}

/** torchvision CenterCrop offsets. */
export function centerCropBox(width: number, height: number, size: number): Box {
  return { left: roundHalfEven((width - size) / 2), top: roundHalfEven((height - size) / 2), width: size, height: size };
}

const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Applies ColorJitter ops in place to HWC RGB floats in [0, 1] (torchvision's tensor functional ops). */
export function applyJitter(px: Float32Array, ops: readonly JitterOp[]): void {
  const n = px.length / 3;
  for (const { op, factor: f } of ops) {
    if (op === "brightness") {
      for (let i = 0; i < px.length; i++) px[i] = clamp01(px[i]! * f);
    } else if (op === "contrast") {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += 0.299 * px[3 * i]! + 0.587 * px[3 * i + 1]! + 0.114 * px[3 * i + 2]!;
      const m = (1 - f) * (sum / n);
      for (let i = 0; i < px.length; i++) px[i] = clamp01(f * px[i]! + m);
    } else {
      for (let i = 0; i < n; i++) {
        const g = (1 - f) * (0.299 * px[3 * i]! + 0.587 * px[3 * i + 1]! + 0.114 * px[3 * i + 2]!);
        for (let c = 0; c < 3; c++) px[3 * i + c] = clamp01(f * px[3 * i + c]! + g);
      }
    }
  }
}

/**
 * Grey from RGB pixels: uint8 as PIL's convert("L") (ITU-R 601-2 in 16-bit fixed point, rounded), floats
 * (after jitter) as torchvision's rgb_to_grayscale. A grey image decoded to RGB comes back unchanged.
 */
export function toGrey(px: Uint8Array | Float32Array): Uint8Array | Float32Array {
  const n = px.length / 3;
  if (px instanceof Uint8Array) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (px[3 * i]! * 19595 + px[3 * i + 1]! * 38470 + px[3 * i + 2]! * 7471 + 0x8000) >>> 16;
    return out;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.299 * px[3 * i]! + 0.587 * px[3 * i + 1]! + 0.114 * px[3 * i + 2]!;
  return out;
}

/**
 * Writes HWC RGB (uint8, or floats in [0, 1] after jitter) as normalised CHW float32 into `out` at `offset`,
 * flipping horizontally if asked; a 1-channel spec takes the grey of the pixels. Arithmetic in float32
 * as torchvision's ToTensor + Normalize do it.
 */
export function normalizeInto(
  px: Uint8Array | Float32Array,
  width: number,
  height: number,
  spec: Pick<TransformSpec, "mean" | "std"> & { channels?: 1 | 3 },
  flip: boolean,
  out: Float32Array,
  offset: number,
): void {
  const f = Math.fround;
  const scale = px instanceof Uint8Array ? 255 : 1;
  const plane = width * height;
  const channels = spec.channels ?? 3;
  const src = channels === 1 ? toGrey(px) : px;
  for (let c = 0; c < channels; c++) {
    const mean = f(spec.mean[c]!);
    const std = f(spec.std[c]!);
    const base = offset + c * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const sx = flip ? width - 1 - x : x;
        const v = f(src[(y * width + sx) * channels + c]! / scale);
        out[base + y * width + x] = f(f(v - mean) / std);
      }
    }
  }
}
