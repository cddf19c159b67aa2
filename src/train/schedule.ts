/**
 * @file Cosine learning-rate schedule with linear warm-up, as timm 0.5.4's CosineLRScheduler that the
 * SNELL authors' train.py builds (https://github.com/ssfgunner/SNELL, train.py + timm create_scheduler).
 */
import { ConfigError } from "../errors.js";

/** Parameters of timm's CosineLRScheduler, in its own units (epochs or optimizer updates). */
export interface TimmCosineOptions {
  /** Peak learning rate (the optimizer's base lr, timm's `base_values`). */
  baseLr: number;
  /** Length of one cosine cycle, timm's `t_initial` (the authors pass `--epochs`). */
  tInitial: number;
  /** Warm-up length, timm's `warmup_t` (authors: `--warmup-epochs` default 10). */
  warmupT?: number;
  /** First warm-up lr, timm's `warmup_lr_init` (authors: `--warmup-lr` default 1e-6). */
  warmupLrInit?: number;
  /** Floor of the cosine, timm's `lr_min` (authors: `--min-lr` default 1e-5). */
  lrMin?: number;
  /** When true the cosine starts after warm-up; timm's default (and the authors') is false. */
  warmupPrefix?: boolean;
  /** Cycles before the lr stays at `lrMin`; timm's create_scheduler passes 1. */
  cycleLimit?: number;
  /** Per-cycle decay of lr_max and lr_min, timm's `decay_rate` (authors: 0.1; irrelevant with one cycle). */
  decayRate?: number;
}

/** The SNELL authors' defaults (train.py argparse): 10 warm-up epochs from 1e-6, floor 1e-5. */
export const SNELL_SCHEDULE_DEFAULTS = {
  warmupEpochs: 10,
  warmupLr: 1e-6,
  minLr: 1e-5,
} as const;

function checkFinite(name: string, v: number, min = -Infinity): void {
  if (!Number.isFinite(v) || v < min) throw new ConfigError(`schedule: ${name} must be a finite number >= ${min}, got ${v}`);
}

/**
 * timm's `CosineLRScheduler._get_lr(t)` (t_mul = 1, no noise), for one parameter group:
 * - t < warmupT: warmupLrInit + t * (baseLr - warmupLrInit) / warmupT
 * - else, with i = floor(t / tInitial), t_curr = t - i * tInitial (t shifted by warmupT only when warmupPrefix):
 *   lrMin·γ + ½(baseLr·γ - lrMin·γ)(1 + cos(π t_curr / tInitial)), γ = decayRate^i, while i < cycleLimit; else lrMin.
 * Note that without warmupPrefix the cosine is evaluated at the absolute t, so the peak baseLr is never
 * reached exactly: the first post-warm-up value is already cos(π·warmupT/tInitial) into the decay.
 */
export function timmCosineLr(t: number, opts: TimmCosineOptions): number {
  const {
    baseLr, tInitial, warmupT = SNELL_SCHEDULE_DEFAULTS.warmupEpochs, warmupLrInit = SNELL_SCHEDULE_DEFAULTS.warmupLr,
    lrMin = SNELL_SCHEDULE_DEFAULTS.minLr, warmupPrefix = false, cycleLimit = 1, decayRate = 0.1,
  } = opts;
  checkFinite("baseLr", baseLr, 0);
  checkFinite("tInitial", tInitial, 1);
  checkFinite("warmupT", warmupT, 0);
  checkFinite("t", t, 0);
  if (t < warmupT) return warmupLrInit + t * ((baseLr - warmupLrInit) / warmupT);
  const tt = warmupPrefix ? t - warmupT : t;
  const i = Math.floor(tt / tInitial);
  const tCurr = tt - tInitial * i;
  if (cycleLimit === 0 || (cycleLimit > 0 && i < cycleLimit)) {
    const gamma = decayRate ** i;
    const lo = lrMin * gamma;
    return lo + 0.5 * (baseLr * gamma - lo) * (1 + Math.cos((Math.PI * tCurr) / tInitial));
  }
  return lrMin;
}

/** How the lr changes during training. */
export type ScheduleUpdate =
  /**
   * Exactly the authors' loop: timm updates once per epoch, and train.py calls `lr_scheduler.step(epoch)`
   * *after* training epoch `epoch`. So epoch 0 runs at warmupLr (set when the scheduler is built), and
   * epoch e >= 1 runs at `_get_lr(e - 1)`: epochs 0 and 1 both use 1e-6, and the last epoch uses `_get_lr(E - 2)`.
   */
  | "epoch"
  /**
   * timm with `t_in_epochs=False`: `step_update(num_updates)` after each optimizer step, so global step k
   * (0-based) runs at `_get_lr(k)` with tInitial = epochs·stepsPerEpoch and warmupT = warmupEpochs·stepsPerEpoch.
   */
  | "step";

/** A schedule as the trainer sees it (all lengths in epochs). */
export interface LrScheduleConfig {
  /** Peak learning rate (recipe `lr`). */
  baseLr: number;
  /** Total training epochs (also the cosine length, as create_scheduler sets t_initial = epochs). */
  epochs: number;
  /** Warm-up epochs (default 10). */
  warmupEpochs?: number;
  /** First warm-up lr (default 1e-6). */
  warmupLr?: number;
  /** Cosine floor (default 1e-5). */
  minLr?: number;
  /** Per-epoch as the authors (default) or per optimizer step. */
  update?: ScheduleUpdate;
  /** Optimizer steps per epoch; required for `update: "step"`. */
  stepsPerEpoch?: number;
}

/** A learning-rate schedule: pure, so resuming at (epoch, step) gives the same lr as the uninterrupted run. */
export interface LrSchedule {
  readonly config: Readonly<Required<Omit<LrScheduleConfig, "stepsPerEpoch">>> & { stepsPerEpoch?: number };
  /** The lr for optimizer step `stepInEpoch` (0-based) of epoch `epoch` (0-based). */
  lrAt(epoch: number, stepInEpoch?: number): number;
}

/** Builds the schedule the trainer uses; throws ConfigError naming the bad field. */
export function createLrSchedule(cfg: LrScheduleConfig): LrSchedule {
  const config = {
    baseLr: cfg.baseLr,
    epochs: cfg.epochs,
    warmupEpochs: cfg.warmupEpochs ?? SNELL_SCHEDULE_DEFAULTS.warmupEpochs,
    warmupLr: cfg.warmupLr ?? SNELL_SCHEDULE_DEFAULTS.warmupLr,
    minLr: cfg.minLr ?? SNELL_SCHEDULE_DEFAULTS.minLr,
    update: cfg.update ?? "epoch",
    stepsPerEpoch: cfg.stepsPerEpoch,
  };
  if (!Number.isInteger(config.epochs) || config.epochs < 1) throw new ConfigError(`schedule: epochs must be an integer >= 1, got ${config.epochs}`);
  if (!Number.isInteger(config.warmupEpochs) || config.warmupEpochs < 0) {
    throw new ConfigError(`schedule: warmupEpochs must be an integer >= 0, got ${config.warmupEpochs}`);
  }
  checkFinite("baseLr", config.baseLr, 0);
  checkFinite("warmupLr", config.warmupLr, 0);
  checkFinite("minLr", config.minLr, 0);
  if (config.update !== "epoch" && config.update !== "step") {
    throw new ConfigError(`schedule: unknown update "${String(config.update)}"; expected one of epoch, step`);
  }
  const spe = config.stepsPerEpoch;
  if (config.update === "step" && (spe === undefined || !Number.isInteger(spe) || spe < 1)) {
    throw new ConfigError(`schedule: update "step" needs stepsPerEpoch, an integer >= 1, got ${spe}`);
  }
  const timm = (t: number, unit: number) => timmCosineLr(t, {
    baseLr: config.baseLr, tInitial: config.epochs * unit, warmupT: config.warmupEpochs * unit,
    warmupLrInit: config.warmupLr, lrMin: config.minLr,
  });
  return {
    config,
    lrAt(epoch: number, stepInEpoch = 0): number {
      if (!Number.isInteger(epoch) || epoch < 0) throw new ConfigError(`schedule: epoch must be an integer >= 0, got ${epoch}`);
      if (config.update === "step") return timm(epoch * spe! + stepInEpoch, spe!);
      // With no warm-up timm never overwrites the initial lr, so epoch 0 runs at baseLr.
      if (epoch === 0) return config.warmupEpochs > 0 ? config.warmupLr : config.baseLr;
      return timm(epoch - 1, 1);
    },
  };
}

/**
 * Whether the authors' loop evaluates after epoch `epoch` (0-based):
 * `epoch % val_interval == 0 or epoch >= epochs - 10` (their scripts pass val_interval 10).
 */
export function authorsEvaluateAfter(epoch: number, epochs: number, interval = 10): boolean {
  return epoch % interval === 0 || epoch >= epochs - 10;
}
