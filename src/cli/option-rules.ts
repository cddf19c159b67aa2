/**
 * @file The one place numeric (and fixed-word) options are checked: every command's flags (before the action runs) and
 * every merged config (config files, recipes, a stored run.json) go through `checkOptions`, so a bad
 * value fails with one line naming the option before any data is read or any file written.
 */
import { availableParallelism } from "node:os";
import { ConfigError } from "../errors.js";
import { BACKBONE_PRECISIONS } from "../models/backbone-precision.js";
import { DEVICES } from "../runtime/device.js";

/** A numeric option's rule: integer or real, inclusive/exclusive bounds, and the words of the message. */
interface Rule {
  integer?: boolean;
  min?: number;
  /** Exclusive lower bound. */
  above?: number;
  max?: number;
  /** Exclusive upper bound. */
  below?: number;
  /** Non-numeric words the option also takes ("authors"). */
  words?: readonly string[];
}

const POSITIVE_INT: Rule = { integer: true, min: 1 };
const COUNT: Rule = { integer: true, min: 0 };
const POSITIVE: Rule = { above: 0 };
const NON_NEGATIVE: Rule = { min: 0 };
const PROBABILITY: Rule = { min: 0, below: 1 };

/**
 * Rules by option attribute name (commander's camelCase), shared by every command that has the option.
 * Upper bounds guard against values that would exhaust memory or never finish (a 10^9 batch).
 */
export const NUMERIC_OPTIONS: Readonly<Record<string, Rule>> = {
  batchSize: { integer: true, min: 1, max: 65536 },
  evalBatchSize: { integer: true, min: 1, max: 65536 },
  batch: { integer: true, min: 1, max: 65536 },
  epochs: { integer: true, min: 1, max: 100000 },
  warmupEpochs: { integer: true, min: 0, max: 100000 },
  numClasses: { integer: true, min: 1, max: 1000000 },
  rank: { integer: true, min: 1, max: 65536 },
  seed: { integer: true, min: 0, max: 2 ** 32 - 1 },
  workers: { integer: true, min: 0, max: 1024 },
  prefetch: { integer: true, min: 1, max: 64 },
  threads: { integer: true, min: 1, max: 1024 },
  concurrency: { integer: true, min: 1, max: 1024 },
  parallel: { integer: true, min: 1, max: 1024 },
  lockSeconds: { integer: true, min: 1, max: 86400 },
  topK: POSITIVE_INT,
  testImages: POSITIVE_INT,
  evalEvery: { ...COUNT, words: ["authors"] },
  sparsity: PROBABILITY,
  dropout: PROBABILITY,
  dropPath: PROBABILITY,
  labelSmoothing: PROBABILITY,
  stochasticDepth: PROBABILITY,
  lr: POSITIVE,
  alpha: POSITIVE,
  clipGrad: POSITIVE,
  tol: POSITIVE,
  weightDecay: NON_NEGATIVE,
  warmupLr: NON_NEGATIVE,
  minLr: NON_NEGATIVE,
};

/** Options that take one word of a fixed list, checked with the numeric ones (a config file's "device: tpu" too). */
export const CHOICE_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  device: DEVICES,
  backbonePrecision: BACKBONE_PRECISIONS,
};

/** camelCase attribute -> the flag a user types ("batchSize" -> "--batch-size"). */
export function flagName(key: string): string {
  return "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

function describe(rule: Rule): string {
  const parts = [rule.integer ? "an integer" : "a number"];
  if (rule.min !== undefined) parts.push(`>= ${rule.min}`);
  if (rule.above !== undefined) parts.push(`> ${rule.above}`);
  if (rule.max !== undefined) parts.push(`<= ${rule.max}`);
  if (rule.below !== undefined) parts.push(`< ${rule.below}`);
  return parts.join(" ") + (rule.words ? ` or ${rule.words.map((w) => `"${w}"`).join(", ")}` : "");
}

/** True when `v` breaks `rule`. Strings that spell a number (a config file's "8") count as numbers. */
function violation(v: unknown, rule: Rule): boolean {
  if (typeof v === "string" && rule.words?.includes(v)) return false;
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n)) return true;
  if (rule.integer && !Number.isSafeInteger(n)) return true;
  if (rule.min !== undefined && n < rule.min) return true;
  if (rule.above !== undefined && n <= rule.above) return true;
  if (rule.max !== undefined && n > rule.max) return true;
  if (rule.below !== undefined && n >= rule.below) return true;
  return false;
}

/** Shows a bad value as the user wrote it (YAML's .nan arrives as NaN, a list as JSON). */
function show(v: unknown): string {
  return typeof v === "number" || typeof v === "string" ? String(v) : JSON.stringify(v) ?? String(v);
}

/**
 * Checks every numeric option present in `opts` (null and undefined mean "not set"). `where` names
 * the source for values that did not come from a flag ("config.yaml").
 *
 * @example
 * checkOptions({ batchSize: 0 }); // ConfigError: --batch-size must be an integer >= 1 <= 65536, got 0
 */
export function checkOptions(opts: Readonly<Record<string, unknown>>, where?: string): void {
  for (const [key, rule] of Object.entries(NUMERIC_OPTIONS)) {
    const v = opts[key];
    if (v === undefined || v === null) continue;
    if (violation(v, rule)) {
      const from = where ? ` (${key} in ${where})` : "";
      throw new ConfigError(`${flagName(key)}${from} must be ${describe(rule)}, got ${show(v)}`);
    }
  }
  for (const [key, words] of Object.entries(CHOICE_OPTIONS)) {
    const v = opts[key];
    if (v === undefined || v === null || words.includes(v as string)) continue;
    const from = where ? ` (${key} in ${where})` : "";
    throw new ConfigError(`${flagName(key)}${from} must be one of ${words.join(", ")}, got ${show(v)}`);
  }
}

/** `--out ""` and the like: a folder option given but empty. */
export function checkPathOptions(opts: Readonly<Record<string, unknown>>): void {
  for (const key of ["out", "data", "adapter", "weights", "output", "predictions", "config"]) {
    const v = opts[key];
    if (typeof v === "string" && v.trim() === "") throw new ConfigError(`${flagName(key)} must name a path, got an empty string`);
  }
}

/** Decode workers beyond the cores only contend; returns the capped count and a warning when it changed. */
export function capWorkers(workers: number, cores = availableParallelism()): { workers: number; warning?: string } {
  if (workers <= cores) return { workers };
  return { workers: cores, warning: `warning: --workers ${workers} is more than the ${cores} cores; using ${cores}` };
}
