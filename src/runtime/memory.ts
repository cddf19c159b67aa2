/** @file Process memory figures: peak and current resident set size, in MiB. */

/** Peak resident set size of this process so far (getrusage's ru_maxrss; Linux reports KiB). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Current resident set size. */
export function currentRssMiB(): number {
  return process.memoryUsage.rss() / 2 ** 20;
}
