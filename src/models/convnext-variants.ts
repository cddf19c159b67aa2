/**
 * @file ConvNeXt architectures (224 px) and pretrained tags named as timm names them ("arch.tag"), with
 * each tag's preprocessing (timm's default_cfgs in convnext.py) and where its weights come from.
 */
import { ConfigError, unknownName } from "../errors.js";
import type { ModelVariant, VariantSource } from "./backbone.js";
import { validateConvNextConfig, type ConvNextConfig } from "./convnext.js";
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, type PretrainedCfg } from "./pretrained.js";

type Arch = Pick<ConvNextConfig, "depths" | "dims">;

/** Architectures by timm name; every one has a 4x4 stem, 224 px, inChans 3, mlpRatio 4, eps 1e-6. */
export const CONVNEXT_ARCHS = {
  convnext_tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] },
  convnext_small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768] },
  convnext_base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024] },
  convnext_large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536] },
} as const satisfies Record<string, Arch>;

export type ConvNextArchName = keyof typeof CONVNEXT_ARCHS;

const FB = "https://dl.fbaipublicfiles.com/convnext";

/**
 * timm's _cfg for ConvNeXt (ImageNet mean/std, bicubic, crop 0.875). `url` is Facebook's original .pth
 * (FB layout; models/convnext-checkpoint.ts renames it), the Hub copy is timm's safetensors. SNELL's
 * ConvNeXt-B rows use the ImageNet-22k weights (convnext_base_22k_224.pth = convnext_base.fb_in22k).
 */
function cfg(file: string, numClasses = 1000): PretrainedCfg {
  return {
    mean: IMAGENET_DEFAULT_MEAN, std: IMAGENET_DEFAULT_STD, inputSize: [3, 224, 224], interpolation: "bicubic",
    cropPct: 0.875, numClasses, source: "timm", license: "apache-2.0", url: `${FB}/${file}`,
  };
}

/** Pretrained tags; an untagged arch takes its first (the paper's in22k weights where they exist). */
export const CONVNEXT_PRETRAINED: Record<string, PretrainedCfg> = {
  "convnext_tiny.fb_in22k": cfg("convnext_tiny_22k_224.pth", 21841),
  "convnext_tiny.fb_in1k": cfg("convnext_tiny_1k_224_ema.pth"),
  "convnext_tiny.fb_in22k_ft_in1k": cfg("convnext_tiny_22k_1k_224.pth"),
  "convnext_small.fb_in22k": cfg("convnext_small_22k_224.pth", 21841),
  "convnext_small.fb_in1k": cfg("convnext_small_1k_224_ema.pth"),
  "convnext_small.fb_in22k_ft_in1k": cfg("convnext_small_22k_1k_224.pth"),
  "convnext_base.fb_in22k": cfg("convnext_base_22k_224.pth", 21841),
  "convnext_base.fb_in1k": cfg("convnext_base_1k_224_ema.pth"),
  "convnext_base.fb_in22k_ft_in1k": cfg("convnext_base_22k_1k_224.pth"),
  "convnext_large.fb_in22k": cfg("convnext_large_22k_224.pth", 21841),
  "convnext_large.fb_in1k": cfg("convnext_large_1k_224_ema.pth"),
  "convnext_large.fb_in22k_ft_in1k": cfg("convnext_large_22k_1k_224.pth"),
};
for (const [name, p] of Object.entries(CONVNEXT_PRETRAINED)) p.hfHubId = `timm/${name}`;

/** Reduced architectures for tests and CLI smoke runs (no pretrained weights; random init). */
export const CONVNEXT_TEST_ARCHS = {
  convnext_test: { imgSize: 32, depths: [1, 1, 2, 1], dims: [8, 16, 24, 32] },
} as const satisfies Record<string, Arch & { imgSize: number }>;

/** Every valid name: architectures, "arch.tag" pairs and the test archs. */
export function convnextVariantNames(): string[] {
  return [...Object.keys(CONVNEXT_ARCHS), ...Object.keys(CONVNEXT_PRETRAINED), ...Object.keys(CONVNEXT_TEST_ARCHS)];
}

/** The config an arch builds, before overrides. */
export function convnextArchConfig(a: Arch, numClasses = 1000, imgSize = 224): ConvNextConfig {
  return { arch: "convnext", imgSize, patchSize: 4, inChans: 3, numClasses, depths: [...a.depths], dims: [...a.dims], mlpRatio: 4, eps: 1e-6, lsInitValue: 1e-6 };
}

function checked(name: string, config: ConvNextConfig, overrides: Readonly<Record<string, unknown>>): ConvNextConfig {
  try {
    validateConvNextConfig(config);
  } catch (cause) {
    throw new ConfigError(`ConvNeXt variant "${name}" with overrides ${JSON.stringify(overrides)}: ${(cause as Error).message}`, { cause });
  }
  return config;
}

/**
 * Resolves "convnext_base.fb_in22k" (or an arch alone, which takes its first tag, or a test arch) to a
 * config; null when `name` is no ConvNeXt name. `overrides` set e.g. numClasses; ConfigError when they
 * make the config inconsistent.
 */
export function convnextVariantOrNull(name: string, overrides: Readonly<Record<string, unknown>> = {}): ModelVariant<ConvNextConfig> | null {
  if (Object.prototype.hasOwnProperty.call(CONVNEXT_TEST_ARCHS, name)) {
    const t = CONVNEXT_TEST_ARCHS[name as keyof typeof CONVNEXT_TEST_ARCHS];
    const config = checked(name, { ...convnextArchConfig(t, 0, t.imgSize), ...overrides } as ConvNextConfig, overrides);
    return { name, arch: name, tag: null, config, pretrained: null };
  }
  const dot = name.indexOf(".");
  const archName = dot < 0 ? name : name.slice(0, dot);
  if (!Object.prototype.hasOwnProperty.call(CONVNEXT_ARCHS, archName)) return null;
  const arch = archName as ConvNextArchName;
  const tag = dot < 0 ? Object.keys(CONVNEXT_PRETRAINED).find((k) => k.startsWith(`${arch}.`))!.slice(arch.length + 1) : name.slice(dot + 1);
  const full = `${arch}.${tag}`;
  const pretrained = CONVNEXT_PRETRAINED[full];
  if (!pretrained) return null;
  const config = checked(full, { ...convnextArchConfig(CONVNEXT_ARCHS[arch], pretrained.numClasses), ...overrides } as ConvNextConfig, overrides);
  return { name: full, arch, tag, config, pretrained };
}

/** convnextVariantOrNull that throws ConfigError listing the valid names. */
export function convnextVariant(name: string, overrides: Readonly<Record<string, unknown>> = {}): ModelVariant<ConvNextConfig> {
  const v = convnextVariantOrNull(name, overrides);
  if (!v) throw unknownName("ConvNeXt variant", name, convnextVariantNames());
  return v;
}

/** The ConvNeXt backbone's model names (models/registry.ts asks every backbone in turn). */
export const convnextVariants: VariantSource<ConvNextConfig> = { names: convnextVariantNames, resolve: convnextVariantOrNull };
