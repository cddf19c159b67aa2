/** @file Decoding with sharp (files) and applying a TransformSpec to one sample or a whole batch (same code in workers). */
import { FormatError } from "../errors.js";
import type { ImageSource } from "./dataset.js";
import { openBounded } from "./decode-limits.js";
import { cropPixels, resizePil } from "./resample.js";
import {
  applyJitter,
  centerCropBox,
  drawParams,
  normalizeInto,
  sampleLength,
  shorterSideSize,
  type Box,
  type Interpolation,
  type TransformSpec,
} from "./transforms.js";

/** RGB pixels, row-major HWC, 8 bits. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Expands 1 (grey), 2 (grey + alpha) or 4 (RGBA) channels to RGB; alpha is dropped as PIL's convert("RGB") does. */
export function toRgb(data: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  if (channels === 3) return data;
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    if (channels <= 2) {
      const v = data[i * channels]!;
      out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v;
    } else {
      out[3 * i] = data[i * channels]!;
      out[3 * i + 1] = data[i * channels + 1]!;
      out[3 * i + 2] = data[i * channels + 2]!;
    }
  }
  return out;
}

/** Decodes a file (any format sharp reads; EXIF orientation is ignored, as PIL does) or wraps raw pixels. */
export async function decodeRgb(source: ImageSource, origin?: string): Promise<RgbImage> {
  if (typeof source !== "string") {
    return { data: toRgb(source.data, source.width, source.height, source.channels), width: source.width, height: source.height };
  }
  try {
    const { data, info } = await (await openBounded(source)).toColourspace("srgb").raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { data: toRgb(bytes, info.width, info.height, info.channels), width: info.width, height: info.height };
  } catch (cause) {
    const where = origin && origin !== source ? `${origin}: ` : "";
    throw new FormatError(`${where}unreadable image ${source} (${(cause as Error).message})`, { cause });
  }
}

/** Crops, resizes (Pillow's arithmetic), then crops again; no copy where a step is the identity. */
function cropResize(img: RgbImage, crop: Box | null, outW: number, outH: number, interp: Interpolation, post: Box | null): RgbImage {
  let { data, width, height } = img;
  if (crop && !(crop.left === 0 && crop.top === 0 && crop.width === width && crop.height === height)) {
    data = cropPixels(data, width, 3, crop);
    width = crop.width;
    height = crop.height;
  }
  if (width !== outW || height !== outH) {
    data = resizePil(data, width, height, 3, outW, outH, interp);
    width = outW;
    height = outH;
  }
  if (post && !(post.left === 0 && post.top === 0 && post.width === width && post.height === height)) {
    data = cropPixels(data, width, 3, post);
    width = post.width;
    height = post.height;
  }
  return { data, width, height };
}

/** Context that makes a transform deterministic: the random stream of (seed, epoch, index). */
export interface SampleContext {
  seed: number;
  epoch: number;
  index: number;
  origin?: string;
}

/** Decodes and transforms one sample into out[offset .. offset + channels*size*size) as normalised CHW float32. */
export async function transformInto(source: ImageSource, spec: TransformSpec, ctx: SampleContext, out: Float32Array, offset: number): Promise<void> {
  const img = await decodeRgb(source, ctx.origin);
  const params = drawParams(spec, img.width, img.height, ctx.seed, ctx.epoch, ctx.index);
  const s = spec.size;
  let res: RgbImage;
  const g = spec.geometry;
  if (g.kind === "resize-crop") {
    const [w, h] = shorterSideSize(img.width, img.height, g.resizeSize);
    if (w < s || h < s) throw new FormatError(`resize to ${w}x${h} is smaller than the ${s}x${s} crop`);
    res = cropResize(img, null, w, h, spec.interpolation, centerCropBox(w, h, s));
  } else {
    res = cropResize(img, params.crop, s, s, spec.interpolation, null);
  }
  if (params.jitter.length > 0) {
    const f = new Float32Array(res.data.length);
    for (let i = 0; i < f.length; i++) f[i] = res.data[i]! / 255;
    applyJitter(f, params.jitter);
    normalizeInto(f, s, s, spec, params.flip, out, offset);
  } else {
    normalizeInto(res.data, s, s, spec, params.flip, out, offset);
  }
}

/** Decodes one sample to a fresh [channels, size, size] tensor. */
export async function transformSample(source: ImageSource, spec: TransformSpec, ctx: SampleContext): Promise<Float32Array> {
  const out = new Float32Array(sampleLength(spec));
  await transformInto(source, spec, ctx, out, 0);
  return out;
}

/** One entry of a batch request (what crosses to a worker). */
export interface BatchItem {
  index: number;
  source: ImageSource;
  label: number;
  origin?: string;
}

export interface BatchRequest {
  items: BatchItem[];
  spec: TransformSpec;
  seed: number;
  epoch: number;
  /** Rows of the output; items.length <= batchSize, the rest is zero padding. */
  batchSize: number;
  skipBadImages: boolean;
}

export interface DecodedBatch {
  images: Float32Array;
  labels: BigInt64Array;
  /** Real rows (the first `count`); padding rows are zeros with label 0. */
  count: number;
  /** Dataset indices of the real rows. */
  indices: Int32Array;
  /** Messages of the images skipped under skipBadImages. */
  skipped: string[];
  /** Seconds spent decoding this batch. */
  seconds: number;
}

/**
 * Decodes a batch; images are decoded concurrently (sharp works off the JS thread).
 * Under skipBadImages a bad image is left out and the later rows move up, so count may fall below items.length.
 */
export async function decodeBatch(req: BatchRequest): Promise<DecodedBatch> {
  const t0 = performance.now();
  const per = sampleLength(req.spec);
  const images = new Float32Array(req.batchSize * per);
  // allSettled, then the first failure in list order: with several bad images in one batch the
  // error must name the same one every run, not whichever decode lost the race.
  const settled = await Promise.allSettled(
    req.items.map((it, k) => transformInto(it.source, req.spec, { seed: req.seed, epoch: req.epoch, index: it.index, origin: it.origin }, images, k * per)),
  );
  const results = settled.map((r) => {
    if (r.status === "fulfilled") return null;
    if (req.skipBadImages && r.reason instanceof FormatError) return r.reason.message;
    throw r.reason;
  });
  const labels = new BigInt64Array(req.batchSize);
  const indices = new Int32Array(req.batchSize).fill(-1);
  const skipped: string[] = [];
  let count = 0;
  for (let k = 0; k < req.items.length; k++) {
    const msg = results[k];
    if (msg) {
      skipped.push(msg);
      continue;
    }
    if (count !== k) images.copyWithin(count * per, k * per, (k + 1) * per);
    labels[count] = BigInt(req.items[k]!.label);
    indices[count] = req.items[k]!.index;
    count++;
  }
  if (count < req.items.length) images.fill(0, count * per);
  return { images, labels, count, indices, skipped, seconds: (performance.now() - t0) / 1000 };
}
