/**
 * @file Named recipes: the SNELL authors' hyperparameters per VTAB-1k task and FGVC dataset, copied from
 * their official scripts (https://github.com/ssfgunner/SNELL, scripts/ and configs/), with train.py's defaults;
 * their SNELLA scripts (snella-vtab/<task>, snella-fgvc/<dataset>); and a LoRA baseline variant of each
 * SNELL recipe (<name>-lora).
 */
import { unknownName } from "../errors.js";
import { SNELLA_ALLOCATOR_FLAGS, SNELLA_FGVC, SNELLA_FGVC_MODEL_EMA, SNELLA_SCRIPTS, SNELLA_VTAB, type SnellaRow } from "./recipes-snella.js";

/** Which benchmark protocol a recipe follows. */
export type Benchmark = "vtab-1k" | "fgvc";

/** One training setting, exactly as the authors ran it. */
export interface Recipe {
  /** Lookup name, e.g. "vtab/cifar", "fgvc/cub", "fgvc/cub-r32". */
  name: string;
  benchmark: Benchmark;
  /** The authors' `--data-set` value (their folder name, e.g. "stanfordcar"). */
  dataset: string;
  /** Our PEFT method. */
  method: "snell" | "snella" | "lora";
  /**
   * The script's `--tuning_model`. "mixk" (dense MixK: no sparsification, no allocator) has no method
   * here yet; such recipes are listed with their numbers but refuse to run.
   */
  tuningModel: "snell" | "snella" | "mixk" | "lora";
  /** Rank of the kernelized LoRA factors (`--low_rank_dim`). */
  rank: number;
  /**
   * Fraction of ΔW entries zeroed per matrix: SNELL `--init_thres` (torch.quantile level of |ΔW|);
   * SNELLA `--target_ratio`, the average the allocator's budget ends at; 0 for LoRA.
   */
  sparsity: number;
  /** SNELLA's allocator (`--use_sparse_allocator`; `--init_thres` is its initSparsity); null: none. */
  allocator: {
    initSparsity: number; initWarmup: number; finalWarmup: number; maskInterval: number; beta1: number; beta2: number; unit: "epoch";
  } | null;
  /** Model EMA decay (`--model-ema --model-ema-decay`, timm ModelEma); null: off. */
  modelEma: number | null;
  /** Adapter-input dropout and adapter-output drop-path (the authors' modules: 0.1 each unless --no_drop_out/--no_drop_path). */
  dropout: number;
  dropPath: number;
  /** LoRA: scale numerator (their TuningModule applies B A unscaled, so alpha = rank). */
  alpha?: number;
  /** The script passes `--amp`; we train in float32 regardless. */
  amp: boolean;
  /** Training batch size (`--batch-size`); evaluation uses twice this. */
  batchSize: number;
  /** Peak learning rate (`--lr`). */
  lr: number;
  /** AdamW weight decay (`--weight-decay`). */
  weightDecay: number;
  /** Training epochs (`--epochs`), also the cosine length. */
  epochs: number;
  /** Linear warm-up epochs (train.py default `--warmup-epochs 10`). */
  warmupEpochs: number;
  /** First warm-up lr (train.py default `--warmup-lr 1e-6`). */
  warmupLr: number;
  /** Cosine floor (train.py default `--min-lr 1e-5`). */
  minLr: number;
  /** Optimizer (`--opt adamw`, timm defaults betas (0.9, 0.999), eps 1e-8). */
  optimizer: "adamw";
  /** Label smoothing (`--smoothing 0`). */
  labelSmoothing: number;
  /** Stochastic depth rate (train.py default `--drop-path 0.1`; the scripts do not pass `--no_drop_path`). */
  stochasticDepth: number;
  /** Evaluate every N epochs and in each of the last 10 (`--val_interval`: 10, a few SNELLA scripts 1). */
  evalInterval: number;
  /** Preprocessing preset: VTAB scripts pass `--no_aug --direct_resize`, FGVC scripts do not. */
  preprocess: "snell-vtab" | "snell-fgvc";
  /** Backbone (`--model_name vit_base_patch16_224_in21k_snell`, weights ViT-B_16.npz, ImageNet-21k). */
  model: "vit_base_patch16_224_in21k";
  /** Train on train800val200 (VTAB-1k) or train (FGVC: build_dataset reads train.json) and evaluate on test (`--test`). */
  trainSplit: "train800val200" | "train";
  evalSplit: "test";
  /** `--seed 0`. */
  seed: number;
  /** Where the numbers come from: repository path and commit of the script. */
  source: string;
}

const REPO = "https://github.com/ssfgunner/SNELL/blob";
const SCRIPTS = "70d11e616c6d3420950c139183439d1cd571494a";
/** Older commit that kept three FGVC scripts under configs/ (missing from scripts/ at SCRIPTS). */
const CONFIGS = "57b6dbd659eaa8e5137ea54498b167fdf5424590";

const COMMON = {
  method: "snell", tuningModel: "snell", allocator: null, modelEma: null, dropout: 0.1, dropPath: 0.1, amp: false, warmupEpochs: 10, warmupLr: 1e-6, minLr: 1e-5, optimizer: "adamw", labelSmoothing: 0,
  stochasticDepth: 0.1, evalInterval: 10, model: "vit_base_patch16_224_in21k", evalSplit: "test", seed: 0,
} as const;

type Row = [task: string, dataset: string, script: string, batchSize: number, lr: number, weightDecay: number, sparsity: number, epochs: number];

// scripts/vtab/snell32/<script>.sh: all rank 32. Columns: batch, LR, WEIGHT_DECAY, init_thres, --epochs.
const VTAB: Row[] = [
  ["cifar", "cifar", "vit_cifar_snell", 16, 0.001, 0.01, 0.9, 200],
  ["caltech101", "caltech101", "vit_caltech_snell", 16, 0.001, 0.01, 0.4, 200],
  ["dtd", "dtd", "vit_dtd_snell", 64, 0.001, 0.01, 0.995, 200],
  ["oxford_flowers102", "oxford_flowers102", "vit_flower_snell", 32, 0.001, 0.01, 0.9, 200],
  ["oxford_iiit_pet", "oxford_iiit_pet", "vit_pets_snell", 32, 0.001, 0.01, 0.5, 200],
  ["svhn", "svhn", "vit_svhn_snell", 32, 0.001, 0.01, 0, 200],
  ["sun397", "sun397", "vit_sun397_snell", 32, 0.001, 0.001, 0.99, 200],
  ["patch_camelyon", "patch_camelyon", "vit_camelyon_snell", 16, 0.0007, 0.05, 0.15, 100],
  ["eurosat", "eurosat", "vit_eurosat_snell", 16, 0.001, 0.0004, 0.5, 100],
  ["resisc45", "resisc45", "vit_resisc_snell", 32, 0.001, 0.01, 0, 100],
  ["diabetic_retinopathy", "diabetic_retinopathy", "vit_retino_snell", 32, 0.001, 0.05, 0.5, 100],
  ["clevr_count", "clevr_count", "vit_clevr_count_snell", 16, 0.001, 0.01, 0.1, 100],
  ["clevr_dist", "clevr_dist", "vit_clevr_dist_snell", 16, 0.001, 0.001, 0.74, 100],
  ["dmlab", "dmlab", "vit_dmlab_snell", 8, 0.001, 0.0001, 0, 100],
  ["kitti", "kitti", "vit_kitti_snell", 8, 0.001, 0.01, 0.37, 100],
  ["dsprites_loc", "dsprites_loc", "vit_dloc_snell", 16, 0.001, 0.01, 0, 100],
  ["dsprites_ori", "dsprites_ori", "vit_dori_snell", 8, 0.001, 0.01, 0.88, 100],
  ["smallnorb_azi", "smallnorb_azi", "vit_snorbazi_snell", 16, 0.001, 0.01, 0, 100],
  ["smallnorb_ele", "smallnorb_ele", "vit_snorbele_snell", 16, 0.001, 0.001, 0.08, 200],
];

type FgvcRow = [task: string, dataset: string, script: string, rank: 8 | 16 | 32, dir: "scripts" | "configs", batchSize: number, lr: number, weightDecay: number, sparsity: number];

// <dir>/fgvc/snell<rank>/<script>.sh, all 100 epochs.
const FGVC: FgvcRow[] = [
  ["cub", "cub", "vit_cub_snell", 8, "scripts", 32, 0.001, 0.01, 0.3],
  ["cub", "cub", "vit_cub_snell", 16, "scripts", 32, 0.001, 0.01, 0.3],
  ["cub", "cub", "vit_cub_snell", 32, "scripts", 32, 0.001, 0.01, 0.3],
  ["nabirds", "nabirds", "vit_nabirds_snell", 8, "configs", 32, 0.0005, 0.01, 0.1],
  ["nabirds", "nabirds", "vit_nabirds_snell", 16, "configs", 32, 0.0005, 0.01, 0.1],
  ["nabirds", "nabirds", "vit_nabirds_snell", 32, "scripts", 32, 0.0005, 0.01, 0.1],
  ["oxford_flowers", "oxfordflower", "vit_flowers_snell", 8, "scripts", 32, 0.001, 0.01, 0.6],
  ["oxford_flowers", "oxfordflower", "vit_flowers_snell", 16, "scripts", 32, 0.001, 0.01, 0.6],
  ["oxford_flowers", "oxfordflower", "vit_flowers_snell", 32, "configs", 32, 0.001, 0.01, 0.8],
  ["stanford_dogs", "stanforddog", "vit_dogs_snell", 8, "scripts", 32, 0.0003, 0.001, 0.1],
  ["stanford_dogs", "stanforddog", "vit_dogs_snell", 16, "scripts", 32, 0.0003, 0.001, 0.1],
  ["stanford_dogs", "stanforddog", "vit_dogs_snell", 32, "scripts", 32, 0.0003, 0.005, 0.1],
  ["stanford_cars", "stanfordcar", "vit_cars_snell", 8, "scripts", 32, 0.001, 0.01, 0],
  ["stanford_cars", "stanfordcar", "vit_cars_snell", 16, "scripts", 32, 0.001, 0.01, 0],
  ["stanford_cars", "stanfordcar", "vit_cars_snell", 32, "scripts", 32, 0.001, 0.01, 0],
];

/** Rank used by the plain FGVC names ("fgvc/cub"): SNELL-8, the smallest the authors ship for every dataset. */
export const FGVC_DEFAULT_RANK = 8;

function build(): Map<string, Recipe> {
  const m = new Map<string, Recipe>();
  for (const [task, dataset, script, batchSize, lr, weightDecay, sparsity, epochs] of VTAB) {
    m.set(`vtab/${task}`, {
      ...COMMON, name: `vtab/${task}`, benchmark: "vtab-1k", dataset, rank: 32, sparsity, batchSize, lr, weightDecay, epochs,
      preprocess: "snell-vtab", trainSplit: "train800val200", source: `${REPO}/${SCRIPTS}/scripts/vtab/snell32/${script}.sh`,
    });
  }
  for (const [task, dataset, script, rank, dir, batchSize, lr, weightDecay, sparsity] of FGVC) {
    const name = rank === FGVC_DEFAULT_RANK ? `fgvc/${task}` : `fgvc/${task}-r${rank}`;
    m.set(name, {
      ...COMMON, name, benchmark: "fgvc", dataset, rank, sparsity, batchSize, lr, weightDecay, epochs: 100,
      preprocess: "snell-fgvc", trainSplit: "train", source: `${REPO}/${dir === "scripts" ? SCRIPTS : CONFIGS}/${dir}/fgvc/snell${rank}/${script}.sh`,
    });
  }
  // Their LoRA baseline: the same script with --tuning_model lora (rank = --low_rank_dim, unscaled B A,
  // dropout 0.1 on the adapter input and DropPath 0.1 on its output).
  for (const r of [...m.values()]) {
    const name = `${r.name}-lora`;
    m.set(name, { ...r, name, method: "lora", tuningModel: "lora", sparsity: 0, alpha: r.rank, dropout: 0.1, dropPath: 0.1 });
  }
  for (const [benchmark, rows] of [["vtab-1k", SNELLA_VTAB], ["fgvc", SNELLA_FGVC]] as const) {
    for (const r of rows) m.set(snellaName(benchmark, r.task), snellaRecipe(benchmark, r));
  }
  return m;
}

const snellaName = (b: Benchmark, task: string) => `snella-${b === "fgvc" ? "fgvc" : "vtab"}/${task}`;

/** A SNELLA script as a recipe: rank 32, 100 epochs, the allocator flags all scripts share; FGVC adds the model EMA. */
function snellaRecipe(benchmark: Benchmark, r: SnellaRow): Recipe {
  const fgvc = benchmark === "fgvc";
  return {
    ...COMMON, name: snellaName(benchmark, r.task), benchmark, dataset: r.dataset, method: "snella", tuningModel: r.tuning, rank: 32,
    sparsity: r.targetSparsity, batchSize: r.batchSize, lr: r.lr, weightDecay: r.weightDecay, epochs: 100, evalInterval: r.valInterval,
    allocator: r.tuning === "snella" ? { ...SNELLA_ALLOCATOR_FLAGS, initSparsity: r.initSparsity } : null,
    modelEma: fgvc ? SNELLA_FGVC_MODEL_EMA : null, amp: r.amp,
    preprocess: fgvc ? "snell-fgvc" : "snell-vtab", trainSplit: fgvc ? "train" : "train800val200",
    source: `${REPO}/${SNELLA_SCRIPTS}/scripts/${fgvc ? "fgvc" : "vtab"}/snella32/${r.script}`,
  };
}

/** All recipes by name, in a stable order (SNELL VTAB then FGVC, their LoRA variants, SNELLA VTAB then FGVC). */
export const RECIPES: ReadonlyMap<string, Readonly<Recipe>> = build();

/** The 19 VTAB-1k task names, in the paper's column order. */
export const VTAB_TASKS: readonly string[] = VTAB.map((r) => r[0]);

/** The 5 FGVC dataset names. */
export const FGVC_DATASETS: readonly string[] = [...new Set(FGVC.map((r) => r[0]))];

/** The 9 VTAB-1k tasks with a SNELLA script (the authors released no others). */
export const SNELLA_VTAB_TASKS: readonly string[] = SNELLA_VTAB.map((r) => r.task);

/** The authors' folder names accepted as aliases (e.g. "fgvc/stanfordcar" → "fgvc/stanford_cars"). */
const ALIASES: ReadonlyMap<string, string> = new Map([
  ...FGVC.filter((r) => r[0] !== r[1]).flatMap(([task, dataset, , rank]) => {
    const suffix = rank === FGVC_DEFAULT_RANK ? "" : `-r${rank}`;
    return [[`fgvc/${dataset}${suffix}`, `fgvc/${task}${suffix}`], [`fgvc/${dataset}${suffix}-lora`, `fgvc/${task}${suffix}-lora`]] as [string, string][];
  }),
  ...SNELLA_FGVC.filter((r) => r.task !== r.dataset).map((r) => [`snella-fgvc/${r.dataset}`, `snella-fgvc/${r.task}`] as [string, string]),
]);

/** Valid recipe names. */
export function recipeNames(): string[] {
  return [...RECIPES.keys()];
}

/** Looks a recipe up by name; an unknown name throws ConfigError listing the valid ones. Returns a copy. */
export function getRecipe(name: string): Recipe {
  const key = name.trim().toLowerCase();
  const r = RECIPES.get(key) ?? RECIPES.get(ALIASES.get(key) ?? "");
  if (!r) throw unknownName("recipe", name, RECIPES.keys());
  return { ...r };
}
