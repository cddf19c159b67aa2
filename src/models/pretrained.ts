/** @file What every backbone's pretrained tags share: timm's pretrained_cfg and the ImageNet normalisations. */

export const IMAGENET_DEFAULT_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_DEFAULT_STD = [0.229, 0.224, 0.225] as const;
/** timm's IMAGENET_INCEPTION_MEAN/STD: the Google ViT checkpoints expect inputs in [-1, 1]. */
export const IMAGENET_INCEPTION_MEAN = [0.5, 0.5, 0.5] as const;
export const IMAGENET_INCEPTION_STD = [0.5, 0.5, 0.5] as const;

/** Preprocessing and provenance of one pretrained tag (timm's pretrained_cfg). */
export interface PretrainedCfg {
  /** Per-channel normalisation. NOTE: SNELL's own runs normalise every backbone with ImageNet mean/std
   *  (IMAGENET_DEFAULT_*), even the in21k ViT whose tag says 0.5/0.5; follow the paper's choice to reproduce it. */
  mean: readonly number[];
  std: readonly number[];
  /** [channels, height, width]. */
  inputSize: readonly [number, number, number];
  interpolation: "bicubic" | "bilinear";
  /** Resize to size / cropPct, then center-crop to size. */
  cropPct: number;
  /** Classes of the head stored in the checkpoint; 0 when it has none (timm drops invalid in21k heads). */
  numClasses: number;
  /** Layout of the weight file ("timm" everywhere; ViT also "npz", "mae", "mocov3"): the backbone's filter renames it to timm keys. */
  source: string;
  url?: string;
  /** Hugging Face Hub repository (timm/<arch>.<tag>) holding a safetensors copy. */
  hfHubId?: string;
  license?: string;
  /** Weights shipped with this package, as a path from the package root (loaded when no --weights is given). */
  file?: string;
}
