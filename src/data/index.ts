/** @file Public surface of the data layer: readers, transforms, decoding and the batch loader. */
export { ListDataset, subset, type Dataset, type ImageSource, type RawImage, type ReaderOptions, type Sample } from "./dataset.js";
export { readVtab, parseListFile, VTAB_SPLITS, type VtabSplit } from "./vtab.js";
export { readFgvc, FgvcDataset, FGVC_IMAGE_ROOTS, type FgvcName, type FgvcOptions, type FgvcSplit } from "./fgvc.js";
export { readImageFolder, IMAGE_EXTENSIONS, type ImageFolderOptions } from "./image-folder.js";
export { readIdx, readIdxImages, loadMnist, mnistDataDir, IdxDataset, type IdxArray, type IdxImages } from "./idx.js";
export {
  makeTransform,
  isRandom,
  sampleLength,
  transformMismatch,
  drawParams,
  mixSeed,
  IMAGENET_MEAN,
  IMAGENET_STD,
  PRESETS,
  type Geometry,
  type Interpolation,
  type PresetName,
  type PresetOptions,
  type SampleParams,
  type TransformSpec,
} from "./transforms.js";
export { resizePil } from "./resample.js";
export { decodeRgb, transformSample, decodeBatch, type BatchItem, type BatchRequest, type DecodedBatch, type SampleContext } from "./decode.js";
export { DecodePool } from "./decode-pool.js";
export { DataLoader, type Batch, type LoaderOptions, type LoaderStats } from "./loader.js";
