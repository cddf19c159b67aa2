/**
 * @file Pillow's resize (Resample.c: separable filters widened by the downscale factor, 22-bit fixed point),
 * so resized pixels match torchvision-on-PIL pipelines exactly; JS is faster than a sharp call for small images.
 */
import type { Interpolation } from "./transforms.js";

interface Filter {
  support: number;
  f: (x: number) => number;
}

const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));

const FILTERS: Record<Exclude<Interpolation, "nearest">, Filter> = {
  bilinear: { support: 1, f: (x) => (x < 0 && (x = -x), x < 1 ? 1 - x : 0) },
  // Keys cubic with a = -0.5, Pillow's BICUBIC.
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

const PRECISION_BITS = 32 - 8 - 2;

interface Coeffs {
  ksize: number;
  bounds: Int32Array;
  kk: Int32Array;
}

// Datasets resize many images between the same few sizes; coefficients are pure functions of the sizes.
const COEFF_CACHE = new Map<string, Coeffs>();

function cachedCoeffs(inSize: number, outSize: number, interpolation: Exclude<Interpolation, "nearest">): Coeffs {
  const key = `${interpolation}:${inSize}:${outSize}`;
  let c = COEFF_CACHE.get(key);
  if (!c) {
    if (COEFF_CACHE.size > 256) COEFF_CACHE.clear();
    c = coeffs(inSize, outSize, FILTERS[interpolation]);
    COEFF_CACHE.set(key, c);
  }
  return c;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function coeffs(inSize: number, outSize: number, filter: Filter): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.f((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      const w = x < xmax ? (ww !== 0 ? pre[x]! / ww : pre[x]!) : 0;
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

const CLIP_HI = (1 << PRECISION_BITS) * 256;
// Sums stay inside int32 as in Pillow (|weights| sum to about 1.25, times 255 << 22), so int32 arithmetic is exact.
function clip8(v: number): number {
  if (v >= CLIP_HI) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/** Resizes interleaved 8-bit pixels (any channel count) to outW x outH as Pillow's Image.resize does. */
export function resizePil(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
  interpolation: Interpolation,
): Uint8Array {
  if (outW === width && outH === height) return src.slice();
  if (interpolation === "nearest") {
    // Pillow's ImagingScaleAffine: the source coordinate is accumulated by repeated addition, so its
    // rounding (e.g. 4 -> 6 rows picks row 2, not 3, for output row 4) is reproduced here.
    const out = new Uint8Array(outW * outH * channels);
    const sx = width / outW;
    const sy = height / outH;
    const xin = new Int32Array(outW);
    for (let x = 0, xo = sx * 0.5; x < outW; x++, xo += sx) xin[x] = Math.min(width - 1, Math.trunc(xo));
    for (let y = 0, yo = sy * 0.5; y < outH; y++, yo += sy) {
      const yi = Math.min(height - 1, Math.trunc(yo));
      for (let x = 0; x < outW; x++) {
        for (let c = 0; c < channels; c++) out[(y * outW + x) * channels + c] = src[(yi * width + xin[x]!) * channels + c]!;
      }
    }
    return out;
  }
  const half = 1 << (PRECISION_BITS - 1);
  let cur = src;
  let cw = width;
  const v0 = cachedCoeffs(height, outH, interpolation);
  // The vertical bounds get shifted below; work on a copy so the cache stays intact.
  const v = { ksize: v0.ksize, kk: v0.kk, bounds: v0.bounds.slice() };
  if (outW !== width) {
    // Horizontal pass first, over the rows the vertical pass will read (as Pillow does).
    const h = cachedCoeffs(width, outW, interpolation);
    const first = outH !== height ? v.bounds[0]! : 0;
    const last = outH !== height ? v.bounds[2 * outH - 2]! + v.bounds[2 * outH - 1]! : height;
    const rows = last - first;
    const tmp = new Uint8Array(outW * rows * channels);
    const hb = h.bounds;
    const hk = h.kk;
    const hs = h.ksize;
    for (let y = 0; y < rows; y++) {
      const rowBase = (y + first) * width * channels;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = hb[2 * xx]!;
        const xmax = hb[2 * xx + 1]!;
        const k = xx * hs;
        const o = (y * outW + xx) * channels;
        if (channels === 3) {
          // RGB fast path: one pass over the taps for all three channels.
          let s0 = half;
          let s1 = half;
          let s2 = half;
          let p = rowBase + xmin * 3;
          for (let x = 0; x < xmax; x++, p += 3) {
            const w = hk[k + x]!;
            s0 = (s0 + Math.imul(src[p]!, w)) | 0;
            s1 = (s1 + Math.imul(src[p + 1]!, w)) | 0;
            s2 = (s2 + Math.imul(src[p + 2]!, w)) | 0;
          }
          tmp[o] = clip8(s0);
          tmp[o + 1] = clip8(s1);
          tmp[o + 2] = clip8(s2);
          continue;
        }
        for (let c = 0; c < channels; c++) {
          let ss = half;
          let p = rowBase + xmin * channels + c;
          for (let x = 0; x < xmax; x++, p += channels) ss = (ss + Math.imul(src[p]!, hk[k + x]!)) | 0;
          tmp[o + c] = clip8(ss);
        }
      }
    }
    cur = tmp;
    cw = outW;
    if (outH === height) return cur;
    for (let i = 0; i < outH; i++) v.bounds[2 * i] = v.bounds[2 * i]! - first;
  }
  const out = new Uint8Array(outW * outH * channels);
  const vb = v.bounds;
  const vk = v.kk;
  const vs = v.ksize;
  const stride = cw * channels;
  // Taps outermost so each tap reads one contiguous source row (the output row accumulates in int32).
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = vb[2 * yy]!;
    const ymax = vb[2 * yy + 1]!;
    const k = yy * vs;
    acc.fill(half);
    for (let y = 0; y < ymax; y++) {
      const w = vk[k + y]!;
      const row = (y + ymin) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i]! + Math.imul(cur[row + i]!, w)) | 0;
    }
    const rowOut = yy * outW * channels;
    for (let i = 0; i < stride; i++) out[rowOut + i] = clip8(acc[i]!);
  }
  return out;
}

/** Copies the box (left, top, width, height) out of interleaved pixels. */
export function cropPixels(src: Uint8Array, width: number, channels: number, box: { left: number; top: number; width: number; height: number }): Uint8Array {
  const out = new Uint8Array(box.width * box.height * channels);
  for (let y = 0; y < box.height; y++) {
    const s = ((box.top + y) * width + box.left) * channels;
    out.set(src.subarray(s, s + box.width * channels), y * box.width * channels);
  }
  return out;
}
