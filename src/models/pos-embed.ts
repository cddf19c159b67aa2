/**
 * @file Position-embedding resampling on Float32Arrays, numerically as torch's F.interpolate
 * (align_corners=False) inside timm's resample_abs_pos_embed: the prefix (cls) rows are kept, the
 * grid rows are resized as an image.
 */
import { ShapeError } from "../errors.js";

/** How the grid is resized: timm uses bicubic with antialias for its own checkpoints, bilinear without for Google npz. */
export interface ResampleOptions {
  interpolation?: "bicubic" | "bilinear";
  /** PIL-style antialiased kernels (torch's `antialias=True`); changes the numbers even when upsampling. */
  antialias?: boolean;
}

/** Per output index, the source indices and weights along one axis. */
interface AxisWeights {
  index: Int32Array[];
  weight: Float64Array[];
}

// torch's cubic convolution with A = -0.75 (upsample_bicubic2d, no antialias)
const A = -0.75;
const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

// PIL's filters as torch's antialiased path uses them (bicubic with a = -0.5)
function aaBicubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}
const aaTriangle = (x: number) => Math.max(0, 1 - Math.abs(x));

function axisWeights(inSize: number, outSize: number, { interpolation = "bicubic", antialias = false }: ResampleOptions): AxisWeights {
  const scale = inSize / outSize;
  const index: Int32Array[] = [], weight: Float64Array[] = [];
  const clamp = (i: number) => Math.min(Math.max(i, 0), inSize - 1);
  for (let o = 0; o < outSize; o++) {
    if (antialias) {
      const size = interpolation === "bicubic" ? 4 : 2;
      const filter = interpolation === "bicubic" ? aaBicubic : aaTriangle;
      const support = scale >= 1 ? (size / 2) * scale : size / 2;
      const center = scale * (o + 0.5);
      const inv = scale >= 1 ? 1 / scale : 1;
      // C++ casts truncate toward zero; kept so edge windows match torch's
      const lo = Math.max(Math.trunc(center - support + 0.5), 0);
      const n = Math.min(Math.trunc(center + support + 0.5), inSize) - lo;
      const w = new Float64Array(n);
      let total = 0;
      for (let j = 0; j < n; j++) total += w[j] = filter((j + lo - center + 0.5) * inv);
      if (total !== 0) for (let j = 0; j < n; j++) w[j]! /= total;
      index.push(Int32Array.from({ length: n }, (_, j) => lo + j));
      weight.push(w);
    } else if (interpolation === "bicubic") {
      // cubic source index is not clamped at 0 (unlike linear); taps are clamped instead
      const real = scale * (o + 0.5) - 0.5;
      const i = Math.floor(real), t = real - i;
      index.push(Int32Array.from([i - 1, i, i + 1, i + 2], clamp));
      weight.push(Float64Array.from([cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)]));
    } else {
      const real = Math.max(scale * (o + 0.5) - 0.5, 0);
      const i = Math.trunc(real), t = real - i;
      index.push(Int32Array.from([i, i < inSize - 1 ? i + 1 : i]));
      weight.push(Float64Array.from([1 - t, t]));
    }
  }
  return { index, weight };
}

/**
 * Resizes a channels-last grid [h, w, c] to [nh, nw, c], separably (width first, then height, as
 * torch's antialiased kernel does); accumulates in float64.
 */
export function resizeGrid(src: Float32Array, [h, w]: readonly [number, number], c: number,
  [nh, nw]: readonly [number, number], opts: ResampleOptions = {}): Float32Array {
  if (src.length !== h * w * c) throw new ShapeError(`resizeGrid: ${src.length} values for grid ${h}x${w}x${c}`);
  const wx = axisWeights(w, nw, opts), wy = axisWeights(h, nh, opts);
  const tmp = new Float64Array(h * nw * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < nw; x++) {
      const idx = wx.index[x]!, wt = wx.weight[x]!, out = (y * nw + x) * c;
      for (let k = 0; k < idx.length; k++) {
        const s = (y * w + idx[k]!) * c, f = wt[k]!;
        for (let ch = 0; ch < c; ch++) tmp[out + ch]! += f * src[s + ch]!;
      }
    }
  }
  const acc = new Float64Array(nh * nw * c);
  for (let y = 0; y < nh; y++) {
    const idx = wy.index[y]!, wt = wy.weight[y]!;
    for (let k = 0; k < idx.length; k++) {
      const f = wt[k]!, row = idx[k]! * nw * c, out = y * nw * c;
      for (let j = 0; j < nw * c; j++) acc[out + j]! += f * tmp[row + j]!;
    }
  }
  return Float32Array.from(acc);
}

/** Side of a square token grid; throws when `tokens` is not a square. */
export function squareGrid(tokens: number, where: string): number {
  const s = Math.round(Math.sqrt(tokens));
  if (s * s !== tokens) throw new ShapeError(`${where}: ${tokens} grid tokens do not form a square grid`);
  return s;
}

/**
 * timm's resample_abs_pos_embed: `posEmbed` is [1, prefix + oh*ow, dim] row-major; the prefix
 * (cls) rows are copied, the grid is resized to newGrid. Returns [1, prefix + nh*nw, dim].
 *
 * @example
 * const pe384 = resamplePosEmbed(pe224, 768, [14, 14], [24, 24]);
 */
export function resamplePosEmbed(posEmbed: Float32Array, dim: number, oldGrid: readonly [number, number],
  newGrid: readonly [number, number], opts: ResampleOptions & { numPrefixTokens?: number } = {}): Float32Array {
  const prefix = opts.numPrefixTokens ?? 1;
  const expected = (prefix + oldGrid[0] * oldGrid[1]) * dim;
  if (posEmbed.length !== expected) {
    throw new ShapeError(`resamplePosEmbed: ${posEmbed.length} values, expected (${prefix} + ${oldGrid[0]}x${oldGrid[1]}) x ${dim} = ${expected}`);
  }
  if (oldGrid[0] === newGrid[0] && oldGrid[1] === newGrid[1]) return posEmbed;
  const grid = resizeGrid(posEmbed.subarray(prefix * dim), oldGrid, dim, newGrid, opts);
  const out = new Float32Array((prefix + newGrid[0] * newGrid[1]) * dim);
  out.set(posEmbed.subarray(0, prefix * dim));
  out.set(grid, prefix * dim);
  return out;
}
