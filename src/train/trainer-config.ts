/** @file The trainer's settings: what a run's hyperparameters are, their defaults (the authors' train.py) and their checks. */
import { ConfigError } from "../errors.js";
import { SNELL_SCHEDULE_DEFAULTS, type ScheduleUpdate } from "./schedule.js";

/** Hyperparameters of a run (plain data, stored in checkpoints). */
export interface TrainerConfig {
  epochs: number;
  /** Training batch size; a short last batch is zero-padded and masked unless `dropLast`. */
  batchSize: number;
  /** Evaluation batch size (default: twice batchSize, as the authors' loader). */
  evalBatchSize: number | null;
  /** Peak learning rate. */
  lr: number;
  /** AdamW decoupled weight decay (not applied to 1-D params, cls_token, pos_embed). */
  weightDecay: number;
  betas: [number, number];
  eps: number;
  /** Cosine schedule with linear warm-up (timm's CosineLRScheduler as train.py builds it). */
  warmupEpochs: number;
  warmupLr: number;
  minLr: number;
  /** "epoch": the authors' per-epoch lr; "step": per optimizer step. */
  scheduleUpdate: ScheduleUpdate;
  /** Label smoothing epsilon of the cross-entropy. */
  labelSmoothing: number;
  /** Stochastic depth rate of the backbone's blocks (timm's drop_path_rate; the authors' scripts: 0.1); 0: off. */
  stochasticDepth: number;
  /** Clip gradients to this global L2 norm (in the step graph); null: off. */
  clipGrad: number | null;
  /** Evaluate after every N epochs (and after the last); "authors": every 10th and the last 10; 0: only after the last. */
  evalEvery: number | "authors";
  /** Seeds shuffling, augmentation and the methods' dropout masks. */
  seed: number;
  /** Decode worker threads. */
  workers: number;
  /** Batches decoded ahead of the step. */
  prefetch: number;
  /** Leave unreadable images out (counted) instead of failing. */
  skipBadImages: boolean;
  /** Drop a short last training batch instead of padding it. */
  dropLast: boolean;
  /** Keep decoded images in memory when the transform is deterministic (12·size² bytes per image). */
  cacheImages: boolean;
  /** Also write the adapter of the best evaluation to `<outDir>/adapter-best`. */
  saveBest: boolean;
  /**
   * "merged": evaluate with the adapters folded into the weights (a plain ViT forward, several times
   * faster; briefly holds a copy of the adapted weight matrices); "graph": the unmerged eval graph.
   * Methods that cannot merge (Adapter) always use the graph.
   */
  evalMode: "merged" | "graph";
  /**
   * Decay of a model EMA over the trained tensors (timm's ModelEmaV2, as the authors'
   * train_alloc_ema.py: ema = decay * ema + (1 - decay) * value after every optimizer step, starting
   * from the initial values); evaluated beside the live model, the reported accuracy is the better
   * of the two. null: off. The FGVC SNELLA recipes use 0.9999.
   */
  modelEma: number | null;
}

/** Defaults: the authors' optimizer and schedule (train.py), evaluation after every epoch. */
export const TRAINER_DEFAULTS: Readonly<TrainerConfig> = {
  epochs: 100, batchSize: 32, evalBatchSize: null, lr: 1e-3, weightDecay: 1e-4, betas: [0.9, 0.999], eps: 1e-8,
  warmupEpochs: SNELL_SCHEDULE_DEFAULTS.warmupEpochs, warmupLr: SNELL_SCHEDULE_DEFAULTS.warmupLr, minLr: SNELL_SCHEDULE_DEFAULTS.minLr,
  scheduleUpdate: "epoch", labelSmoothing: 0, stochasticDepth: 0, clipGrad: null, evalEvery: 1, seed: 0, workers: 0, prefetch: 2,
  skipBadImages: false, dropLast: false, cacheImages: false, saveBest: false, evalMode: "merged", modelEma: null,
};

/** Files a run writes under `outDir`. */
export const RUN_FILES = {
  checkpoint: "checkpoint.safetensors", log: "log.jsonl", adapter: "adapter", bestAdapter: "adapter-best", emaAdapter: "adapter-ema",
} as const;

/** Throws ConfigError naming the first field out of range. */
export function checkTrainerConfig(c: TrainerConfig): void {
  const int = (k: keyof TrainerConfig, min: number) => {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) < min) throw new ConfigError(`train.${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  const num = (k: keyof TrainerConfig, lo: number, hi = Infinity) => {
    const v = c[k] as number;
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) throw new ConfigError(`train.${k} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  };
  int("epochs", 1); int("batchSize", 1); int("warmupEpochs", 0); int("workers", 0); int("prefetch", 0);
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) throw new ConfigError(`train.seed must be a non-negative integer, got ${JSON.stringify(c.seed)}`);
  if (c.evalBatchSize !== null) int("evalBatchSize", 1);
  num("lr", 0); num("weightDecay", 0); num("warmupLr", 0); num("minLr", 0); num("labelSmoothing", 0, 1);
  num("stochasticDepth", 0, 0.999);
  if (c.clipGrad !== null) num("clipGrad", Number.MIN_VALUE);
  if (c.evalEvery !== "authors") int("evalEvery", 0);
  if (c.modelEma !== null) num("modelEma", 0, 1);
  if (c.modelEma !== null && !(c.modelEma > 0 && c.modelEma < 1)) throw new ConfigError(`train.modelEma must be a decay in (0, 1) or null, got ${c.modelEma}`);
  if (c.evalMode !== "merged" && c.evalMode !== "graph") throw new ConfigError(`train.evalMode must be "merged" or "graph", got ${JSON.stringify(c.evalMode)}`);
}

/** `{ ...TRAINER_DEFAULTS, ...partial }` without the partial's undefined fields, checked. */
export function resolveTrainerConfig(partial: Partial<TrainerConfig> = {}): TrainerConfig {
  const c: TrainerConfig = { ...TRAINER_DEFAULTS, ...(Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<TrainerConfig>) };
  checkTrainerConfig(c);
  return c;
}
