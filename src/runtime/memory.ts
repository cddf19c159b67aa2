/** @file Process memory figures: peak and current resident set size, in MiB (NaN where the host has none: browsers). */
import { platform } from "#platform";

/** Peak resident set size of this process so far (getrusage's ru_maxrss in Node). */
export function peakRssMiB(): number {
  return platform.peakRssMiB();
}

/** Current resident set size. */
export function currentRssMiB(): number {
  return platform.currentRssMiB();
}
