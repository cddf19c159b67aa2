/**
 * @file Swin architectures (window 7, 224 px) and pretrained tags named as timm names them ("arch.tag"),
 * with each tag's preprocessing (timm's default_cfgs in swin_transformer.py) and where its weights come from.
 */
import { ConfigError, unknownName } from "../errors.js";
import type { ModelVariant, VariantSource } from "./backbone.js";
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, type PretrainedCfg } from "./pretrained.js";
import { validateSwinConfig, type SwinConfig } from "./swin.js";

type Arch = Pick<SwinConfig, "embedDim" | "depths" | "numHeads">;

/** Architectures by timm name; every one has patch 4, window 7, 224 px, inChans 3, mlpRatio 4, qkvBias, eps 1e-5. */
export const SWIN_ARCHS = {
  swin_tiny_patch4_window7_224: { embedDim: 96, depths: [2, 2, 6, 2], numHeads: [3, 6, 12, 24] },
  swin_small_patch4_window7_224: { embedDim: 96, depths: [2, 2, 18, 2], numHeads: [3, 6, 12, 24] },
  swin_base_patch4_window7_224: { embedDim: 128, depths: [2, 2, 18, 2], numHeads: [4, 8, 16, 32] },
  swin_large_patch4_window7_224: { embedDim: 192, depths: [2, 2, 18, 2], numHeads: [6, 12, 24, 48] },
} as const satisfies Record<string, Arch>;

export type SwinArchName = keyof typeof SWIN_ARCHS;

const RELEASES = "https://github.com/SwinTransformer/storage/releases/download";

/**
 * timm's _cfg for Swin. `url` is Microsoft's original .pth (original layout; models/swin-checkpoint.ts
 * renames it), the Hub copy is timm's safetensors (timm layout). SNELL's Swin-B rows use the in22k weights.
 */
function cfg(url: string, numClasses = 1000): PretrainedCfg {
  return {
    mean: IMAGENET_DEFAULT_MEAN, std: IMAGENET_DEFAULT_STD, inputSize: [3, 224, 224], interpolation: "bicubic",
    cropPct: 0.9, numClasses, source: "timm", license: "mit", url: `${RELEASES}/${url}`,
  };
}

/** Pretrained tags in timm's order (an untagged arch takes its first). */
export const SWIN_PRETRAINED: Record<string, PretrainedCfg> = {
  "swin_small_patch4_window7_224.ms_in22k_ft_in1k": cfg("v1.0.8/swin_small_patch4_window7_224_22kto1k_finetune.pth"),
  "swin_base_patch4_window7_224.ms_in22k_ft_in1k": cfg("v1.0.0/swin_base_patch4_window7_224_22kto1k.pth"),
  "swin_large_patch4_window7_224.ms_in22k_ft_in1k": cfg("v1.0.0/swin_large_patch4_window7_224_22kto1k.pth"),
  "swin_tiny_patch4_window7_224.ms_in1k": cfg("v1.0.0/swin_tiny_patch4_window7_224.pth"),
  "swin_small_patch4_window7_224.ms_in1k": cfg("v1.0.0/swin_small_patch4_window7_224.pth"),
  "swin_base_patch4_window7_224.ms_in1k": cfg("v1.0.0/swin_base_patch4_window7_224.pth"),
  "swin_tiny_patch4_window7_224.ms_in22k_ft_in1k": cfg("v1.0.8/swin_tiny_patch4_window7_224_22kto1k_finetune.pth"),
  "swin_tiny_patch4_window7_224.ms_in22k": cfg("v1.0.8/swin_tiny_patch4_window7_224_22k.pth", 21841),
  "swin_small_patch4_window7_224.ms_in22k": cfg("v1.0.8/swin_small_patch4_window7_224_22k.pth", 21841),
  "swin_base_patch4_window7_224.ms_in22k": cfg("v1.0.0/swin_base_patch4_window7_224_22k.pth", 21841),
  "swin_large_patch4_window7_224.ms_in22k": cfg("v1.0.0/swin_large_patch4_window7_224_22k.pth", 21841),
};
for (const [name, p] of Object.entries(SWIN_PRETRAINED)) p.hfHubId = `timm/${name}`;

/**
 * Small Swins for tests and smoke runs: random init, no pretrained tag (`--arch key=value,...` changes the
 * scalar fields). swin_test: 8x8 patch grid, window 4 (stage 0: 4 windows and a shifted block, then a
 * merge; stage 1: one window, unshifted).
 */
export const SWIN_TEST_ARCHS = {
  swin_test: { imgSize: 32, patchSize: 4, inChans: 3, embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: 4, mlpRatio: 4, qkvBias: true, eps: 1e-5 },
} as const satisfies Record<string, Omit<SwinConfig, "numClasses" | "arch">>;

/** Every valid name: architectures, "arch.tag" pairs and the test archs. */
export function swinVariantNames(): string[] {
  return [...Object.keys(SWIN_ARCHS), ...Object.keys(SWIN_PRETRAINED), ...Object.keys(SWIN_TEST_ARCHS)];
}

function validated(full: string, config: SwinConfig, overrides: Readonly<Record<string, unknown>>): SwinConfig {
  try {
    validateSwinConfig(config);
  } catch (cause) {
    throw new ConfigError(`Swin variant "${full}" with overrides ${JSON.stringify(overrides)}: ${(cause as Error).message}`, { cause });
  }
  return config;
}

/** The config an arch builds, before overrides. */
export function swinArchConfig(arch: SwinArchName, numClasses = 1000): SwinConfig {
  const a = SWIN_ARCHS[arch];
  return {
    arch: "swin", imgSize: 224, patchSize: 4, inChans: 3, numClasses, embedDim: a.embedDim, depths: [...a.depths], numHeads: [...a.numHeads],
    windowSize: 7, mlpRatio: 4, qkvBias: true, eps: 1e-5,
  };
}

/**
 * Resolves "swin_base_patch4_window7_224.ms_in22k" (or an arch alone, which takes its first tag) to a
 * config; null when `name` is no Swin name. `overrides` set e.g. numClasses; ConfigError when they
 * make the config inconsistent.
 */
export function swinVariantOrNull(name: string, overrides: Readonly<Record<string, unknown>> = {}): ModelVariant<SwinConfig> | null {
  if (Object.prototype.hasOwnProperty.call(SWIN_TEST_ARCHS, name)) {
    const t = SWIN_TEST_ARCHS[name as keyof typeof SWIN_TEST_ARCHS];
    const config = { arch: "swin", numClasses: 0, ...t, depths: [...t.depths], numHeads: [...t.numHeads], ...overrides } as SwinConfig;
    return { name, arch: name, tag: null, config: validated(name, config, overrides), pretrained: null };
  }
  const dot = name.indexOf(".");
  const archName = dot < 0 ? name : name.slice(0, dot);
  if (!Object.prototype.hasOwnProperty.call(SWIN_ARCHS, archName)) return null;
  const arch = archName as SwinArchName;
  const tag = dot < 0 ? Object.keys(SWIN_PRETRAINED).find((k) => k.startsWith(`${arch}.`))!.slice(arch.length + 1) : name.slice(dot + 1);
  const full = `${arch}.${tag}`;
  const pretrained = SWIN_PRETRAINED[full];
  if (!pretrained) return null;
  const config = validated(full, { ...swinArchConfig(arch, pretrained.numClasses), ...overrides } as SwinConfig, overrides);
  return { name: full, arch, tag, config, pretrained };
}

/** swinVariantOrNull that throws ConfigError listing the valid names. */
export function swinVariant(name: string, overrides: Readonly<Record<string, unknown>> = {}): ModelVariant<SwinConfig> {
  const v = swinVariantOrNull(name, overrides);
  if (!v) throw unknownName("Swin variant", name, swinVariantNames());
  return v;
}

/** The Swin backbone's model names (models/registry.ts asks every backbone in turn). */
export const swinVariants: VariantSource<SwinConfig> = { names: swinVariantNames, resolve: swinVariantOrNull };
