/**
 * @file SNELLA's bi-level sparsity allocator, following the authors' Allocator: a cubic budget
 * schedule of nonzero entries (global level) and a split of that budget across matrices in
 * proportion to importance scores (layer level). Pure TS. Timing as the authors' train_alloc.py and
 * engine.py: after every optimizer step `observeStep` folds |theta * grad| into the statistics (theta
 * after the step's update, grad that step's gradient, as update_ipt runs after optimizer.step());
 * at the start of each schedule position (an epoch, as theirs; or a step) `reallocate` applies the
 * schedule, and the new sparsities are fed from the next step on.
 *
 * Choices where the authors' code is silent or fragile, kept deterministic here:
 * - budgets are whole numbers of entries (floor) in every phase;
 * - leftovers after capping go out in proportion to the scores of the matrices with room, in
 *   whole entries; what rounding leaves goes one entry at a time to the highest scores
 *   (the authors' float loop can stall on sub-entry shares);
 * - a matrix's sparsity is 1 - alloc / size in [0, 1] as theirs: a matrix given no entries gets
 *   s = 1, its threshold is max |K|, nothing survives and its update is exactly zero. Its factors
 *   then get zero gradient (only weight decay moves them) and their importance EMAs decay towards
 *   zero, so such a matrix gets entries back only while the budget still exceeds what the
 *   others can hold (as in the authors' code).
 */
import { ConfigError, FormatError } from "../../errors.js";
import type { SnellaAllocatorConfig } from "./config.js";

/** One adapted matrix: its site path and size. */
export interface AllocMatrix {
  path: string;
  nIn: number;
  nOut: number;
}

/** Name of the per-site run input that carries the sparsity (float32 scalar). */
export function sparsityInputName(path: string): string {
  return `${path}.snella_sparsity`;
}

export interface ScheduleResult {
  /** Nonzero entries allowed over all matrices. */
  budget: number;
  /** Whether to reallocate now. */
  mask: boolean;
}

/**
 * The authors' budget schedule at position t (a step or an epoch): the initial budget through the
 * warm-up, then target + (init - target) * (1 - (t - iw) / (total - fw - iw))^3, reallocating every
 * `maskInterval`, and the target budget with reallocation at every position after total - fw.
 */
export function scheduleBudget(t: number, init: number, target: number, total: number, a: Pick<SnellaAllocatorConfig, "initWarmup" | "finalWarmup" | "maskInterval">): ScheduleResult {
  if (t <= a.initWarmup) return { budget: Math.floor(init), mask: false };
  if (t > total - a.finalWarmup) return { budget: Math.floor(target), mask: true };
  const k = 1 - (t - a.initWarmup) / (total - a.finalWarmup - a.initWarmup);
  return { budget: Math.floor(target + (init - target) * k ** 3), mask: t % a.maskInterval === 0 };
}

/**
 * Splits `budget` entries across matrices in proportion to `scores` (normalised; all zero means
 * equal shares), capped at each matrix's size, leftovers redistributed among those with room.
 */
export function allocateBudget(scores: readonly number[], budget: number, caps: readonly number[]): number[] {
  const m = scores.length;
  const sum = scores.reduce((a, b) => a + b, 0);
  const sc = sum > 0 ? scores.map((x) => x / sum) : scores.map(() => 1 / m);
  const alloc = sc.map((x, i) => Math.min(caps[i]!, Math.floor(budget * x)));
  const total = Math.min(budget, caps.reduce((a, b) => a + b, 0));
  let left = total - alloc.reduce((a, b) => a + b, 0);
  while (left > 0) {
    const open = alloc.map((v, i) => i).filter((i) => caps[i]! > alloc[i]!);
    const z = open.reduce((s, i) => s + sc[i]!, 0);
    let gave = 0;
    for (const i of open) {
      const share = Math.floor(left * (z > 0 ? sc[i]! / z : 1 / open.length));
      const add = Math.min(share, caps[i]! - alloc[i]!);
      alloc[i]! += add;
      gave += add;
    }
    left -= gave;
    if (gave === 0) {
      // Shares below one entry: hand out single entries by descending score (index breaks ties).
      const order = [...open].sort((p, q) => sc[q]! - sc[p]! || p - q);
      for (const i of order) {
        if (left === 0) break;
        alloc[i]! += 1;
        left--;
      }
    }
  }
  return alloc;
}

interface Stats {
  expI: Float64Array;
  expU: Float64Array;
}

/**
 * The allocator's state across a run.
 *
 * @example
 * const alloc = new SnellaAllocator(sites, cfg.sparsity, cfg.allocator, { total: 100 });
 * // at each epoch start: alloc.reallocate(epoch); each step: feed alloc.feeds(); run; then
 * alloc.observeStep((name) => ({ value: paramsAfterStep[name], grad: fetched[`${name}_grad`] }));
 */
export class SnellaAllocator {
  private readonly stats = new Map<string, Stats>();
  private readonly s: Float64Array;
  readonly initBudget: number;
  readonly targetBudget: number;
  /** Last schedule result, for logging. */
  last: ScheduleResult & { position: number; scores?: number[] } = { budget: 0, mask: false, position: -1 };

  /**
   * @param total schedule length in `cfg.unit`s (steps, or epochs)
   */
  constructor(
    readonly matrices: readonly AllocMatrix[],
    readonly targetSparsity: number,
    readonly cfg: SnellaAllocatorConfig,
    readonly opts: { total: number },
  ) {
    const where = "snella.allocator";
    if (matrices.length === 0) throw new ConfigError(`${where}: no adapted matrices`);
    if (!(opts.total > cfg.initWarmup + cfg.finalWarmup)) {
      throw new ConfigError(`${where}: total ${opts.total} ${cfg.unit}s must exceed initWarmup + finalWarmup = ${cfg.initWarmup + cfg.finalWarmup}`);
    }
    const sizes = matrices.map((m) => m.nIn * m.nOut);
    this.initBudget = sizes.reduce((a, n) => a + (1 - cfg.initSparsity) * n, 0);
    this.targetBudget = sizes.reduce((a, n) => a + (1 - targetSparsity) * n, 0);
    this.s = Float64Array.from(matrices, () => cfg.initSparsity);
  }

  /** Names of the parameters whose gradients `update` reads (fetch `<name>_grad`). */
  factorNames(): string[] {
    return this.matrices.flatMap((m) => [`${m.path}.snella_A`, `${m.path}.snella_B`]);
  }

  /** Current sparsity per matrix path. */
  sparsity(): Record<string, number> {
    return Object.fromEntries(this.matrices.map((m, i) => [m.path, this.s[i]!]));
  }

  /** Run-input feeds for the next step: `<site>.snella_sparsity` -> float32 scalar. */
  feeds(): Record<string, Float32Array> {
    return Object.fromEntries(this.matrices.map((m, i) => [sparsityInputName(m.path), Float32Array.of(this.s[i]!)]));
  }

  /** Folds one step's |theta * grad| into the EMAs of sensitivity and uncertainty. */
  observe(name: string, value: ArrayLike<number>, grad: ArrayLike<number>): void {
    let st = this.stats.get(name);
    if (!st) this.stats.set(name, (st = { expI: new Float64Array(value.length), expU: new Float64Array(value.length) }));
    const { beta1, beta2 } = this.cfg;
    for (let i = 0; i < value.length; i++) {
      let ipt = Math.abs(value[i]! * grad[i]!);
      if (Number.isNaN(ipt)) ipt = 0;
      const e = (st.expI[i] = beta1 * st.expI[i]! + (1 - beta1) * ipt);
      st.expU[i] = beta2 * st.expU[i]! + (1 - beta2) * Math.abs(ipt - e);
    }
  }

  /** Per matrix: mean(I * U) over A plus mean(I * U) over B (0 before any observation). */
  scores(): number[] {
    const mean = (name: string) => {
      const st = this.stats.get(name);
      if (!st) return 0;
      let sum = 0;
      for (let i = 0; i < st.expI.length; i++) sum += st.expI[i]! * st.expU[i]!;
      return sum / st.expI.length;
    };
    return this.matrices.map((m) => mean(`${m.path}.snella_A`) + mean(`${m.path}.snella_B`));
  }

  /**
   * After an optimizer step: observes every factor (`factor(name)` gives its value after the step's
   * update and the step's gradient).
   */
  observeStep(factor: (name: string) => { value: ArrayLike<number>; grad: ArrayLike<number> }): void {
    for (const name of this.factorNames()) {
      const { value, grad } = factor(name);
      this.observe(name, value, grad);
    }
  }

  /**
   * At the start of schedule position `position` (an epoch or a step, 0-based): applies the schedule
   * and sets new sparsities when it asks for a reallocation.
   */
  reallocate(position: number): ScheduleResult {
    const r = scheduleBudget(position, this.initBudget, this.targetBudget, this.opts.total, this.cfg);
    this.last = { ...r, position };
    if (!r.mask) return r;
    const caps = this.matrices.map((m) => m.nIn * m.nOut);
    const scores = this.scores();
    const alloc = allocateBudget(scores, r.budget, caps);
    alloc.forEach((a, i) => {
      const n = caps[i]!;
      this.s[i] = Math.min(Math.max(1 - a / n, 0), 1);
    });
    this.last.scores = scores;
    return r;
  }

  /**
   * Everything the allocator carries between steps (sparsities, EMA statistics, last schedule
   * result), as JSON for a resumable checkpoint; float64 values travel as their bytes, so a
   * resumed run allocates bit for bit as an uninterrupted one.
   */
  exportState(): SnellaAllocatorState {
    const stats: SnellaAllocatorState["stats"] = {};
    for (const [n, st] of this.stats) stats[n] = { expI: f64ToBase64(st.expI), expU: f64ToBase64(st.expU) };
    return { s: f64ToBase64(this.s), stats, last: structuredClone(this.last) };
  }

  /** Restores `exportState()` output; refuses state from a different set of matrices. */
  importState(state: SnellaAllocatorState): void {
    const where = "snella allocator state";
    const s = base64ToF64(state?.s, `${where}: s`);
    if (s.length !== this.s.length) throw new FormatError(`${where}: ${s.length} sparsities for ${this.s.length} adapted matrices (checkpoint of another model?)`);
    const known = new Set(this.factorNames());
    const stats = new Map<string, Stats>();
    for (const [n, st] of Object.entries(state.stats ?? {})) {
      if (!known.has(n)) throw new FormatError(`${where}: statistics for "${n}", which is not a SNELLA factor of this model`);
      const expI = base64ToF64(st.expI, `${where}: ${n}.expI`), expU = base64ToF64(st.expU, `${where}: ${n}.expU`);
      if (expI.length !== expU.length) throw new FormatError(`${where}: ${n} has ${expI.length} sensitivities but ${expU.length} uncertainties`);
      stats.set(n, { expI, expU });
    }
    this.s.set(s);
    this.stats.clear();
    for (const [n, st] of stats) this.stats.set(n, st);
    this.last = structuredClone(state.last);
  }
}

/** JSON form of a SnellaAllocator's running state (see `exportState`). */
export interface SnellaAllocatorState {
  /** Per-matrix sparsities, float64 bytes in base64. */
  s: string;
  /** Per factor name: EMA sensitivity and uncertainty, float64 bytes in base64. */
  stats: Record<string, { expI: string; expU: string }>;
  last: SnellaAllocator["last"];
}

const f64ToBase64 = (x: Float64Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("base64");

function base64ToF64(s: unknown, what: string): Float64Array {
  if (typeof s !== "string") throw new FormatError(`${what}: expected a base64 string`);
  const b = Buffer.from(s, "base64");
  if (b.byteLength % 8 !== 0) throw new FormatError(`${what}: ${b.byteLength} bytes is not a whole number of float64 values`);
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
