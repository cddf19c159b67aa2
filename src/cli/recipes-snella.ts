/**
 * @file The SNELLA authors' released scripts as recipe rows (https://github.com/ssfgunner/SNELL,
 * scripts/vtab/snella32/ and scripts/fgvc/snella32/): VTAB-1k through train_alloc.py, FGVC through
 * train_alloc_ema.py with a model EMA. Only these 9 VTAB-1k tasks and 5 FGVC datasets have a script.
 */

/** Commit of the newest SNELLA scripts (cars.sh was added there; cub.sh and nabirds.sh last changed there). */
export const SNELLA_SCRIPTS = "e9d51857fd36f8753096b05a907bd5223ff07d44";

/**
 * The allocator flags every SNELLA script passes: `--init_warmup 0 --final_warmup 0 --mask_interval 1
 * --beta1 0.85 --beta2 0.85 --metric ipt`; train_alloc*.py calls `allocator.update(model, epoch)` at the
 * start of each epoch (`--alloc_epoch` default 100 = `--epochs`), so the schedule counts epochs.
 */
export const SNELLA_ALLOCATOR_FLAGS = { initWarmup: 0, finalWarmup: 0, maskInterval: 1, beta1: 0.85, beta2: 0.85, unit: "epoch" } as const;

/**
 * One script. `tuning`: the script's `--tuning_model`; "mixk" scripts (caltech.sh, svhn.sh through
 * train.py, cars.sh without `--use_sparse_allocator`) train dense MixK, no sparsification, no allocator.
 */
export interface SnellaRow {
  task: string;
  /** The authors' `--data-set` / DATASET value. */
  dataset: string;
  /** File name under scripts/<benchmark>/snella32/. */
  script: string;
  tuning: "snella" | "mixk";
  batchSize: number;
  lr: number;
  weightDecay: number;
  /** `--init_thres`: every matrix's sparsity before the first allocation. */
  initSparsity: number;
  /** `--target_ratio`: the average sparsity the budget schedule ends at. */
  targetSparsity: number;
  /** `--val_interval`: 10, or 1 where the script evaluates every epoch. */
  valInterval: number;
  /** `--amp` (mixed precision); we train in float32 regardless. */
  amp: boolean;
}

const row = (task: string, dataset: string, script: string, tuning: SnellaRow["tuning"], batchSize: number, lr: number, weightDecay: number,
  initSparsity: number, targetSparsity: number, valInterval: number, amp: boolean): SnellaRow =>
  ({ task, dataset, script, tuning, batchSize, lr, weightDecay, initSparsity, targetSparsity, valInterval, amp });

// scripts/vtab/snella32/<script>: batch_size, LR, WEIGHT_DECAY, init_thres, target_ratio, --val_interval, --amp.
// All rank 32, 100 epochs, --no_aug --direct_resize. caltech.sh and svhn.sh set no init_thres/target_ratio.
export const SNELLA_VTAB: readonly SnellaRow[] = [
  row("cifar", "cifar", "cifar.sh", "snella", 8, 0.001, 0.05, 0.01, 0.8, 10, true),
  row("caltech101", "caltech101", "caltech.sh", "mixk", 16, 0.001, 0.0001, 0, 0, 10, false),
  row("dtd", "dtd", "dtd.sh", "snella", 8, 0.001, 0.005, 0.01, 0.93, 1, false),
  row("oxford_flowers102", "oxford_flowers102", "flowers.sh", "snella", 8, 0.001, 0.001, 0.01, 0.4, 1, false),
  row("oxford_iiit_pet", "oxford_iiit_pet", "pets.sh", "snella", 16, 0.001, 0.05, 0.01, 0.55, 1, true),
  row("svhn", "svhn", "svhn.sh", "mixk", 16, 0.001, 0.0001, 0, 0, 10, false),
  row("patch_camelyon", "patch_camelyon", "camelyon.sh", "snella", 8, 0.001, 0.0005, 0.01, 0.76, 10, true),
  row("diabetic_retinopathy", "diabetic_retinopathy", "retino.sh", "snella", 32, 0.001, 0.05, 0.01, 0.2, 10, false),
  row("smallnorb_ele", "smallnorb_ele", "snorb_ele.sh", "snella", 32, 0.001, 0.001, 0.01, 0.63, 1, false),
];

// scripts/fgvc/snella32/<script>: same columns; all rank 32, 100 epochs, init_thres 0,
// --model-ema --model-ema-decay 0.9999, augmentation on (no --no_aug).
export const SNELLA_FGVC: readonly SnellaRow[] = [
  row("cub", "cub", "cub.sh", "snella", 16, 0.001, 0.05, 0, 0.3, 10, false),
  row("nabirds", "nabirds", "nabirds.sh", "snella", 32, 0.001, 0.0005, 0, 0.16, 10, false),
  row("oxford_flowers", "oxfordflower", "flowers.sh", "snella", 16, 0.001, 0.001, 0, 0.61, 10, false),
  row("stanford_dogs", "stanforddog", "dogs.sh", "snella", 32, 0.0001, 0.005, 0, 0.24, 10, false),
  row("stanford_cars", "stanfordcar", "cars.sh", "mixk", 16, 0.001, 0.05, 0, 0, 10, false),
];

/** `--model-ema-decay` of every FGVC SNELLA script (timm ModelEma; reported accuracy max(live, EMA)). */
export const SNELLA_FGVC_MODEL_EMA = 0.9999;
