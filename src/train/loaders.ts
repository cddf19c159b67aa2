/** @file The training and evaluation batch sources of a run, for image datasets or tensors in memory. */
import { DataLoader } from "../data/loader.js";
import type { Dataset } from "../data/dataset.js";
import { isRandom, transformMismatch, type TransformSpec } from "../data/transforms.js";
import { ConfigError } from "../errors.js";
import type { PeftModel } from "../peft/apply.js";
import { imageShape } from "./step-spec.js";
import { isTensorData, tensorClasses, TensorLoader, type BatchSource, type TensorData } from "./tensor-loader.js";
import type { TrainerConfig } from "./trainer-config.js";

/** Classes a training or evaluation set holds (the highest label + 1). */
export const classesOf = (d: Dataset | TensorData): number => (isTensorData(d) ? tensorClasses(d) : d.numClasses);

/** Refuses sets with more classes than the model's head. */
export function checkClasses(pm: PeftModel, train: Dataset | TensorData, evalSet?: Dataset | TensorData): void {
  const C = pm.cfg.numClasses;
  if (classesOf(train) > C) throw new ConfigError(`the training set has ${classesOf(train)} classes, the model's head ${C}; build the model with numClasses ${classesOf(train)}`);
  if (evalSet && classesOf(evalSet) > C) throw new ConfigError(`the evaluation set has ${classesOf(evalSet)} classes, the model's head ${C}`);
}

/** A loader over `d`: shuffled and augmented for training, in order for evaluation. */
export function loaderFor(pm: PeftModel, cfg: TrainerConfig, d: Dataset | TensorData, isTrain: boolean, transforms?: { train: TransformSpec; eval: TransformSpec }): BatchSource {
  const shape = imageShape(pm);
  const batchSize = isTrain ? cfg.batchSize : cfg.evalBatchSize ?? 2 * cfg.batchSize;
  if (isTensorData(d)) return new TensorLoader(d, shape[0] * shape[1] * shape[2], { batchSize, shuffle: isTrain, seed: cfg.seed, dropLast: isTrain && cfg.dropLast });
  const t = transforms?.[isTrain ? "train" : "eval"];
  if (!t) throw new ConfigError("train(): image datasets need `transforms` (train and eval TransformSpec)");
  const mismatch = transformMismatch(t, pm.cfg.inChans, pm.cfg.imgSize);
  if (mismatch) throw new ConfigError(`${isTrain ? "train" : "eval"}: ${mismatch}`);
  return new DataLoader(d, {
    batchSize, transform: t, shuffle: isTrain, seed: cfg.seed, dropLast: isTrain && cfg.dropLast, workers: cfg.workers,
    prefetch: cfg.prefetch, skipBadImages: cfg.skipBadImages, cache: cfg.cacheImages && !isRandom(t),
  });
}
