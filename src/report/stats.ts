/** @file Seed statistics of a table cell: mean, sample standard deviation (n - 1; none for one seed) and n. */

export interface Summary {
  mean: number;
  /** Sample standard deviation (Bessel's n - 1), null for a single value. */
  sd: number | null;
  n: number;
}

/** Mean, sample sd and count of `xs`; null when empty. */
export function summarise(xs: readonly number[]): Summary | null {
  const n = xs.length;
  if (n === 0) return null;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, sd: null, n };
  const ss = xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { mean, sd: Math.sqrt(ss / (n - 1)), n };
}
