/**
 * @file torch.quantile's definition in plain TS (the yardstick for the in-graph threshold) and the
 * sizes of the in-graph sample bracket. Pure TS: no onnxruntime.
 */
import { ConfigError } from "../../errors.js";

/** Rank position of quantile s among n sorted values: floor index, and the interpolation weight. */
export function quantilePosition(n: number, s: number): { lo: number; frac: number } {
  const pos = s * (n - 1);
  const lo = Math.floor(pos);
  return { lo, frac: pos - lo };
}

/** The k-th smallest (0-based) of `a`, rearranging `a` in place (Hoare quickselect, median of three). */
export function selectKth(a: Float64Array | Float32Array, k: number): number {
  let l = 0, r = a.length - 1;
  while (r > l) {
    const m = (l + r) >> 1;
    // median of three as the pivot keeps sorted and constant inputs linear
    const x = a[l]!, y = a[m]!, z = a[r]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = l, j = r;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) { const t = a[i]!; a[i] = a[j]!; a[j] = t; i++; j--; }
    }
    if (k <= j) r = j;
    else if (k >= i) l = i;
    else return a[k]!;
  }
  return a[k]!;
}

/**
 * torch.quantile(values, s) with linear interpolation (the default), computed in float64 without a
 * full sort: the two neighbouring order statistics, then below + frac * (above - below).
 */
export function quantile(values: ArrayLike<number>, s: number): number {
  const n = values.length;
  if (n === 0) throw new ConfigError("quantile of an empty array");
  if (!(s >= 0 && s <= 1)) throw new ConfigError(`quantile level must be in [0, 1], got ${s}`);
  const a = Float64Array.from(values);
  const { lo, frac } = quantilePosition(n, s);
  const below = selectKth(a, lo);
  if (frac === 0 || lo + 1 >= n) return below;
  // After selection everything right of lo is >= below; the next order statistic is their minimum.
  let above = Infinity;
  for (let i = lo + 1; i < n; i++) if (a[i]! < above) above = a[i]!;
  return below + frac * (above - below);
}

/** Sizes of the sample bracket for one matrix (see threshold-graph.ts). */
export interface BracketPlan {
  /** Matrices with at most this many entries are sorted whole (exact, cheap). */
  exact: boolean;
  n: number;
  /** Sample stride: a prime that does not divide the row length, so the sample visits every column. */
  stride: number;
  sampleSize: number;
  /** Safety margin in sample ranks on each side of the sample's estimate of the target rank. */
  margin: number;
  /** Candidates sorted for the exact read: the smallest `capacity` values inside the bracket [lo, hi]. */
  capacity: number;
  /** Rows of the candidate TopK (1: one sorted TopK), and how many each row keeps. */
  rows: number;
  perRow: number;
}

function isPrime(p: number): boolean {
  if (p < 2) return false;
  for (let d = 2; d * d <= p; d++) if (p % d === 0) return false;
  return true;
}

/**
 * Sample about 2^16 entries. The sample is only selected (two linear-time TopKs), not sorted, so a
 * larger sample is cheap, and the bracket's width, hence the candidates to select, shrinks as 1/sqrt.
 */
export const DEFAULT_SAMPLE = 65536;
/** With s fed per run (SNELLA) the sample is sorted, so it stays at the 2^14 measured fastest then. */
export const FED_SAMPLE = 16384;
/**
 * Safety margin in standard deviations (of a sample quantile's rank, and of a row's candidate count).
 * At 5 the bracket misses with probability ~6e-7 per matrix, one step rerun in ~20k ViT-B steps.
 */
export const SIGMAS = 5;
/** Up to this many entries a full sort is cheaper than the bracket. */
export const EXACT_MAX = 131072;
/**
 * Rows of the candidate TopK: 1, one sorted TopK over the masked matrix. Several rows (contiguous
 * chunks, run on separate threads, then a TopK over their union) measured about 10% faster on 2
 * cores, but a row whose share of the bracket exceeds its slack is cut and the step reruns exact:
 * |K| with rows of different scale did that (54 piecewise-kernel |K| of ViT-B shapes, half with A's
 * rows rescaled: 8 or 256 rows missed 4, 64 rows 12, 1 row none).
 */
export const CANDIDATE_ROWS = 1;
/**
 * With s fed, the bracket is planned for s = 1/2 (about 4x wider in ViT-B than at s = 0.9): one
 * TopK over it takes ORT's whole-row nth_element path, 1.6x slower than 256 rows of small heaps
 * (measured back to back), so a fed s keeps the rows (and their risk of a miss).
 */
export const FED_ROWS = 256;

/**
 * Plans the bracket for an [rows, cols] matrix at sparsity `s` (null: s is fed per run, so plan for
 * the widest case s = 1/2). The margin is SIGMAS standard deviations of a sample quantile's rank plus
 * 8, on each side. Between two sample order statistics d ranks apart lie about d * stride entries
 * (a sum of d gaps of mean `stride`), so the bracket holds fewer than
 * (2 margin + SIGMAS sqrt(2 margin) + 16) * stride entries up to the one needed.
 */
export function planBracket(rows: number, cols: number, s: number | null, opts: { sample?: number; exactMax?: number; rows?: number } = {}): BracketPlan {
  const n = rows * cols;
  const target = opts.sample ?? (s === null ? FED_SAMPLE : DEFAULT_SAMPLE);
  const whole: BracketPlan = { exact: true, n, stride: 1, sampleSize: n, margin: 0, capacity: n, rows: 1, perRow: n };
  if (n <= (opts.exactMax ?? EXACT_MAX) || n < 4 * target) return whole;
  let stride = Math.max(3, Math.floor(n / target));
  while (!isPrime(stride) || cols % stride === 0) stride++;
  const sampleSize = Math.ceil(n / stride);
  const v = s === null ? 0.25 : s * (1 - s);
  const margin = Math.ceil(SIGMAS * Math.sqrt(sampleSize * v)) + 8;
  const capacity = Math.min(n, Math.ceil(2 * margin + SIGMAS * Math.sqrt(2 * margin) + 16) * stride);
  // About CANDIDATE_ROWS or FED_ROWS rows (a divisor of n, which is rows * cols); each keeps its share of the
  // capacity plus SIGMAS standard deviations of a binomial count.
  const want = opts.rows ?? (s === null ? FED_ROWS : CANDIDATE_ROWS);
  let rowCount = rows;
  for (let d = 1; d <= n; d++) if (n % d === 0 && d >= want) { rowCount = d; break; }
  const share = capacity / rowCount;
  const perRow = rowCount === 1 ? capacity : Math.min(n / rowCount, Math.ceil(share + SIGMAS * Math.sqrt(share) + 8));
  if (capacity >= n || rowCount * perRow < capacity) return whole;
  return { exact: false, n, stride, sampleSize, margin, capacity, rows: rowCount, perRow };
}
