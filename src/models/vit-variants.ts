/**
 * @file ViT architectures and pretrained tags named as timm names them ("arch.tag"), with each
 * tag's preprocessing (timm's default_cfgs in vision_transformer.py) and where its weights come from.
 */
import { ConfigError, unknownName } from "../errors.js";
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD, type PretrainedCfg } from "./pretrained.js";
import { validateVitConfig, type VitConfig } from "./vit.js";

/** Which layout a checkpoint file uses; checkpointFilter renames each to timm keys. */
export type CheckpointSource = "timm" | "npz" | "mae" | "mocov3";

export { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD, type PretrainedCfg } from "./pretrained.js";

/** A ViT tag's pretrained_cfg: its layout is one checkpointFilter knows. */
export interface VitPretrainedCfg extends PretrainedCfg {
  source: CheckpointSource;
}

type Arch = Pick<VitConfig, "imgSize" | "patchSize" | "embedDim" | "depth" | "numHeads">;

/** Architectures by timm name; every one has inChans 3, mlpRatio 4, qkvBias, eps 1e-6. */
export const VIT_ARCHS = {
  vit_tiny_patch16_224: { imgSize: 224, patchSize: 16, embedDim: 192, depth: 12, numHeads: 3 },
  vit_tiny_patch16_384: { imgSize: 384, patchSize: 16, embedDim: 192, depth: 12, numHeads: 3 },
  vit_small_patch16_224: { imgSize: 224, patchSize: 16, embedDim: 384, depth: 12, numHeads: 6 },
  vit_small_patch16_384: { imgSize: 384, patchSize: 16, embedDim: 384, depth: 12, numHeads: 6 },
  vit_small_patch32_224: { imgSize: 224, patchSize: 32, embedDim: 384, depth: 12, numHeads: 6 },
  vit_base_patch16_224: { imgSize: 224, patchSize: 16, embedDim: 768, depth: 12, numHeads: 12 },
  vit_base_patch16_384: { imgSize: 384, patchSize: 16, embedDim: 768, depth: 12, numHeads: 12 },
  vit_base_patch32_224: { imgSize: 224, patchSize: 32, embedDim: 768, depth: 12, numHeads: 12 },
  vit_base_patch32_384: { imgSize: 384, patchSize: 32, embedDim: 768, depth: 12, numHeads: 12 },
  vit_large_patch16_224: { imgSize: 224, patchSize: 16, embedDim: 1024, depth: 24, numHeads: 16 },
  vit_large_patch16_384: { imgSize: 384, patchSize: 16, embedDim: 1024, depth: 24, numHeads: 16 },
  vit_large_patch32_224: { imgSize: 224, patchSize: 32, embedDim: 1024, depth: 24, numHeads: 16 },
  vit_huge_patch14_224: { imgSize: 224, patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16 },
} as const satisfies Record<string, Arch>;

export type VitArchName = keyof typeof VIT_ARCHS;

const GCS = "https://storage.googleapis.com/vit_models";
const AUGREG_21K = {
  vit_tiny_patch16_224: "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0",
  vit_small_patch16_224: "S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0",
  vit_small_patch32_224: "S_32-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0",
  vit_base_patch16_224: "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0",
  vit_base_patch32_224: "B_32-i21k-300ep-lr_0.001-aug_medium1-wd_0.03-do_0.0-sd_0.0",
  vit_large_patch16_224: "L_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.1-sd_0.1",
} as const;

/** timm's _cfg defaults for ViT. */
function cfg(over: Partial<VitPretrainedCfg> = {}): VitPretrainedCfg {
  return {
    mean: IMAGENET_INCEPTION_MEAN, std: IMAGENET_INCEPTION_STD, inputSize: [3, 224, 224], interpolation: "bicubic",
    cropPct: 0.9, numClasses: 1000, source: "timm", license: "apache-2.0", ...over,
  };
}
const at384 = { inputSize: [3, 384, 384], cropPct: 1.0 } as const;
const hub = (name: string) => `timm/${name}`;

/** Pretrained tags by full name "arch.tag"; the first tag of an arch is its default. */
export const VIT_PRETRAINED: Record<string, VitPretrainedCfg> = {
  // Original Google ViT, ImageNet-21k (SNELL's main backbone: ViT-B_16.npz). timm's copy has no head.
  "vit_base_patch16_224.orig_in21k": cfg({ numClasses: 0, hfHubId: hub("vit_base_patch16_224.orig_in21k") }),
  // "_npz" tags are ours, not timm's: Google's original files, which SNELL's scripts load.
  "vit_base_patch16_224.orig_in21k_npz": cfg({ numClasses: 21843, source: "npz", url: `${GCS}/imagenet21k/ViT-B_16.npz` }),
  "vit_base_patch32_224.orig_in21k": cfg({ numClasses: 0, hfHubId: hub("vit_base_patch32_224.orig_in21k") }),
  "vit_large_patch16_224.orig_in21k": cfg({ numClasses: 0, hfHubId: hub("vit_large_patch16_224.orig_in21k") }),
  "vit_large_patch16_224.orig_in21k_npz": cfg({ numClasses: 21843, source: "npz", url: `${GCS}/imagenet21k/ViT-L_16.npz` }),
  "vit_large_patch32_224.orig_in21k": cfg({ numClasses: 0, hfHubId: hub("vit_large_patch32_224.orig_in21k") }),
  "vit_huge_patch14_224.orig_in21k": cfg({ numClasses: 0, hfHubId: hub("vit_huge_patch14_224.orig_in21k") }),
  "vit_huge_patch14_224.orig_in21k_npz": cfg({ numClasses: 21843, source: "npz", url: `${GCS}/imagenet21k/ViT-H_14.npz` }),
  // "How to train your ViT" (augreg) ImageNet-21k weights, with the 21843-class head.
  ...Object.fromEntries(Object.entries(AUGREG_21K).map(([arch, file]) => [`${arch}.augreg_in21k`,
    cfg({ numClasses: 21843, hfHubId: hub(`${arch}.augreg_in21k`), url: `${GCS}/augreg/${file}.npz` })])),
  "vit_base_patch16_224.augreg_in21k_ft_in1k": cfg({ hfHubId: hub("vit_base_patch16_224.augreg_in21k_ft_in1k") }),
  "vit_base_patch16_224.augreg2_in21k_ft_in1k": cfg({ hfHubId: hub("vit_base_patch16_224.augreg2_in21k_ft_in1k") }),
  "vit_base_patch16_224.orig_in21k_ft_in1k": cfg({ hfHubId: hub("vit_base_patch16_224.orig_in21k_ft_in1k") }),
  "vit_tiny_patch16_384.augreg_in21k_ft_in1k": cfg({ ...at384, hfHubId: hub("vit_tiny_patch16_384.augreg_in21k_ft_in1k") }),
  "vit_small_patch16_384.augreg_in21k_ft_in1k": cfg({ ...at384, hfHubId: hub("vit_small_patch16_384.augreg_in21k_ft_in1k") }),
  "vit_base_patch16_384.augreg_in21k_ft_in1k": cfg({ ...at384, hfHubId: hub("vit_base_patch16_384.augreg_in21k_ft_in1k") }),
  "vit_base_patch16_384.orig_in21k_ft_in1k": cfg({ ...at384, hfHubId: hub("vit_base_patch16_384.orig_in21k_ft_in1k") }),
  "vit_base_patch32_384.augreg_in21k_ft_in1k": cfg({ ...at384, hfHubId: hub("vit_base_patch32_384.augreg_in21k_ft_in1k") }),
  "vit_large_patch16_384.augreg_in21k_ft_in1k": cfg({ ...at384, hfHubId: hub("vit_large_patch16_384.augreg_in21k_ft_in1k") }),
  // Self-supervised ViT-B/16 (SNELL's MAE and MoCo v3 rows); both expect ImageNet mean/std, no head.
  "vit_base_patch16_224.mae": cfg({
    mean: IMAGENET_DEFAULT_MEAN, std: IMAGENET_DEFAULT_STD, numClasses: 0, source: "mae", license: "cc-by-nc-4.0",
    url: "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_base.pth", hfHubId: hub("vit_base_patch16_224.mae"),
  }),
  "vit_large_patch16_224.mae": cfg({
    mean: IMAGENET_DEFAULT_MEAN, std: IMAGENET_DEFAULT_STD, numClasses: 0, source: "mae", license: "cc-by-nc-4.0",
    url: "https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_large.pth", hfHubId: hub("vit_large_patch16_224.mae"),
  }),
  // Not a timm tag (timm ships no MoCo v3 weights): the official pretraining checkpoint.
  "vit_base_patch16_224.mocov3_in1k": cfg({
    mean: IMAGENET_DEFAULT_MEAN, std: IMAGENET_DEFAULT_STD, numClasses: 0, source: "mocov3", license: "cc-by-nc-4.0",
    url: "https://dl.fbaipublicfiles.com/moco-v3/vit-b-300ep/vit-b-300ep.pth.tar",
  }),
};

/**
 * Backbones that are not timm's: a whole config with its preprocessing and, where the package ships
 * one, its weight file. Names carry no dot (no tags).
 */
export const NAMED_VITS = {
  // The demo's backbone: pre-trained on MNIST digits 0-4 by `snell demo --pretrain` (28x28 grey, 4x4 patches
  // of 7 pixels), normalised with MNIST's training-pixel mean and std.
  "demo-vit-mnist04": {
    config: { imgSize: 28, patchSize: 7, inChans: 1, numClasses: 5, embedDim: 64, depth: 4, numHeads: 4, mlpRatio: 4, qkvBias: true, eps: 1e-6 },
    pretrained: cfg({
      mean: [0.1307], std: [0.3081], inputSize: [1, 28, 28], interpolation: "bilinear", cropPct: 1, numClasses: 5,
      file: "demo/pretrained-vit-mnist04.safetensors",
    }),
  },
} as const satisfies Record<string, { config: VitConfig; pretrained: VitPretrainedCfg }>;

export type NamedVitName = keyof typeof NAMED_VITS;

/** Small ViTs for tests and smoke runs: random init, no pretrained tag (`--arch key=value,...` changes any field). */
export const VIT_TEST_ARCHS = {
  vit_test: { imgSize: 32, patchSize: 8, inChans: 3, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 },
} as const satisfies Record<string, Omit<VitConfig, "numClasses">>;

/** A test arch as a variant without pretrained settings, or null for any other name. */
export function vitTestVariant(name: string, overrides: Partial<VitConfig> = {}): (Omit<VitVariant, "pretrained"> & { pretrained: null }) | null {
  if (!Object.prototype.hasOwnProperty.call(VIT_TEST_ARCHS, name)) return null;
  const config: VitConfig = { ...VIT_TEST_ARCHS[name as keyof typeof VIT_TEST_ARCHS], numClasses: 0, ...overrides };
  try {
    validateVitConfig(config);
  } catch (cause) {
    throw new ConfigError(`model "${name}" with --arch ${JSON.stringify(overrides)}: ${(cause as Error).message}`, { cause });
  }
  return { name, arch: name as VitArchName, tag: null, config, pretrained: null };
}

/** A resolved name: architecture, tag and the model config to build. */
export interface VitVariant {
  /** Full name, "arch.tag" ("arch" alone when no pretrained tag exists), or a NAMED_VITS name. */
  name: string;
  arch: VitArchName | NamedVitName;
  tag: string | null;
  config: VitConfig;
  /** Preprocessing for this tag; timm's defaults for an untagged arch. */
  pretrained: VitPretrainedCfg;
}

/** Every valid name: architectures and "arch.tag" pairs. */
export function vitVariantNames(): string[] {
  return [...Object.keys(VIT_ARCHS), ...Object.keys(VIT_PRETRAINED), ...Object.keys(NAMED_VITS)];
}

/** Names with a pretrained_cfg and the test archs (the ViT backbone's VariantSource.names). */
export function vitModelNames(): string[] {
  return [...vitVariantNames(), ...Object.keys(VIT_TEST_ARCHS)];
}

function validated(full: string, config: VitConfig, overrides: Partial<VitConfig>): VitConfig {
  try {
    validateVitConfig(config);
  } catch (cause) {
    throw new ConfigError(`ViT variant "${full}" with overrides ${JSON.stringify(overrides)}: ${(cause as Error).message}`, { cause });
  }
  return config;
}

/**
 * Resolves "vit_base_patch16_224.orig_in21k" (or an arch alone, which takes its first tag) to a
 * config. `overrides` set e.g. numClasses for fine-tuning or imgSize (pos_embed is then
 * resampled on load). Throws ConfigError listing valid names.
 *
 * @example
 * const { config, pretrained } = vitVariant("vit_base_patch16_224.orig_in21k", { numClasses: 100 });
 */
export function vitVariant(name: string, overrides: Partial<VitConfig> = {}): VitVariant {
  const v = vitVariantOrNull(name, overrides);
  if (!v) throw unknownName("ViT variant", name, vitVariantNames());
  return v;
}

/** vitVariant, or null when `name` is no ViT name (the ViT backbone's VariantSource.resolve). */
export function vitVariantOrNull(name: string, overrides: Partial<VitConfig> = {}): VitVariant | null {
  if (Object.prototype.hasOwnProperty.call(NAMED_VITS, name)) {
    const n = NAMED_VITS[name as NamedVitName];
    return { name, arch: name as NamedVitName, tag: null, config: validated(name, { ...n.config, ...overrides }, overrides), pretrained: n.pretrained };
  }
  const dot = name.indexOf(".");
  const archName = dot < 0 ? name : name.slice(0, dot);
  if (!Object.prototype.hasOwnProperty.call(VIT_ARCHS, archName)) return null;
  const arch = archName as VitArchName;
  let tag: string | null = dot < 0 ? null : name.slice(dot + 1);
  if (tag === null) {
    const first = Object.keys(VIT_PRETRAINED).find((k) => k.slice(0, k.indexOf(".")) === arch);
    tag = first ? first.slice(first.indexOf(".") + 1) : null;
  }
  const full = tag === null ? arch : `${arch}.${tag}`;
  const a: Arch = VIT_ARCHS[arch];
  const known = tag === null ? cfg({ inputSize: [3, a.imgSize, a.imgSize] }) : VIT_PRETRAINED[full];
  if (!known) return null;
  const config = validated(full, { ...a, inChans: 3, numClasses: known.numClasses, mlpRatio: 4, qkvBias: true, eps: 1e-6, ...overrides }, overrides);
  return { name: full, arch, tag, config, pretrained: known };
}
