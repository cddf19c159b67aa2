/** @file Public surface of the models layer: the Backbone seam and its registry, the ViT, its variants, checkpoint mapping and loading. */
export type {
  Backbone, BackboneConfigBase, BackboneForwardOptions, FrozenLinear, LayoutOptions, ModelVariant, ParamSpec, SiteInfo, SiteWeight, VariantSource,
} from "./backbone.js";
export { DEFAULT_ARCH, backboneArchs, backboneOf, checkConfigKeys, getBackbone, registerBackbone, resolveVariant, variantNames } from "./registry.js";
export {
  type SiteHook, type VitConfig, type VitForwardOptions, type VitParamSpec,
  createVitParams, forwardFeatures, vit, vitSiteWeight, forwardHead, gridSize, numTokens, validateVitConfig, vitForward, vitParamSpecs, vitSites,
} from "./vit.js";
export {
  type CheckpointSource, type NamedVitName, type PretrainedCfg, type VitArchName, type VitVariant,
  IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, IMAGENET_INCEPTION_MEAN, IMAGENET_INCEPTION_STD,
  NAMED_VITS, VIT_ARCHS, VIT_PRETRAINED, vitVariant, vitVariantNames,
} from "./vit-variants.js";
export { type FilterOptions, checkpointFilter, detectCheckpointSource, permute } from "./checkpoint-filter.js";
export {
  type ConvNextConfig, CONVNEXT_CONFIG_KEYS, convnext, convnextForward, convnextParamSpecs, convnextSites, convnextSiteWeight, createConvNextParams, validateConvNextConfig,
} from "./convnext.js";
export { type ConvNextArchName, CONVNEXT_ARCHS, CONVNEXT_PRETRAINED, convnextVariant, convnextVariantNames } from "./convnext-variants.js";
export { type ConvNextLayout, convnextCheckpointFilter, detectConvNextLayout } from "./convnext-checkpoint.js";
export {
  type SwinConfig, type SwinStage, SWIN_CONFIG_KEYS, SWIN_HEAD_INIT, createSwinParams, swin, swinForward, swinParamSpecs, swinSites, swinSiteWeight, swinStages,
  validateSwinConfig,
} from "./swin.js";
export { type SwinArchName, SWIN_ARCHS, SWIN_PRETRAINED, SWIN_TEST_ARCHS, swinVariant, swinVariantNames } from "./swin-variants.js";
export { type SwinLayout, detectSwinLayout, swinCheckpointFilter } from "./swin-checkpoint.js";
export { type ResampleOptions, resamplePosEmbed, resizeGrid, squareGrid } from "./pos-embed.js";
export { type BackbonePrecision, BACKBONE_PRECISIONS, int8WeightNames, parseBackbonePrecision, quantizeParams } from "./backbone-precision.js";
export { type LoadOptions, type LoadReport, type RawTensor, type ShapeMismatch, formatLoadReport, loadPretrained } from "./load.js";
