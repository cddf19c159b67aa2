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
  /** Safety margin in sample ranks below the sample's estimate of the target rank. */
  margin: number;
  /** Candidates kept by the exact TopK: the smallest `capacity` values at or above the bracket's bound. */
  capacity: number;
  /** Rows of the two-stage candidate TopK, and how many each row keeps. */
  rows: number;
  perRow: number;
}

function isPrime(p: number): boolean {
  if (p < 2) return false;
  for (let d = 2; d * d <= p; d++) if (p % d === 0) return false;
  return true;
}

/** Sample about 2^14 entries: measured fastest overall (the sample sort against the candidate TopK). */
export const DEFAULT_SAMPLE = 16384;
/**
 * Safety margin in standard deviations (of a sample quantile's rank, and of a row's candidate count).
 * At 5 the bracket misses with probability ~6e-7 per matrix, one step rerun in ~20k ViT-B steps.
 */
export const SIGMAS = 5;
/** Up to this many entries a full sort is cheaper than the bracket. */
export const EXACT_MAX = 131072;

/**
 * Plans the bracket for an [rows, cols] matrix at sparsity `s` (null: s is fed per run, so plan for
 * the widest case s = 1/2). The margin is SIGMAS standard deviations of a sample quantile's rank plus 8.
 */
export function planBracket(rows: number, cols: number, s: number | null, opts: { sample?: number; exactMax?: number } = {}): BracketPlan {
  const n = rows * cols;
  const target = opts.sample ?? DEFAULT_SAMPLE;
  const whole: BracketPlan = { exact: true, n, stride: 1, sampleSize: n, margin: 0, capacity: n, rows: 1, perRow: n };
  if (n <= (opts.exactMax ?? EXACT_MAX) || n < 4 * target) return whole;
  let stride = Math.max(3, Math.floor(n / target));
  while (!isPrime(stride) || cols % stride === 0) stride++;
  const sampleSize = Math.ceil(n / stride);
  const v = s === null ? 0.25 : s * (1 - s);
  const margin = Math.ceil(SIGMAS * Math.sqrt(sampleSize * v)) + 8;
  const capacity = Math.min(n, (2 * margin + 16) * stride);
  // About 256 rows (a divisor of n, which is rows * cols); each keeps its share of the capacity
  // plus 6 standard deviations of a binomial count.
  let rowCount = rows;
  for (let d = 1; d <= n; d++) if (n % d === 0 && d >= 256) { rowCount = d; break; }
  const share = capacity / rowCount;
  const perRow = Math.min(n / rowCount, Math.ceil(share + SIGMAS * Math.sqrt(share) + 8));
  if (capacity >= n || rowCount * perRow < capacity) return whole;
  return { exact: false, n, stride, sampleSize, margin, capacity, rows: rowCount, perRow };
}
