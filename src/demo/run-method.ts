/**
 * @file One demo row: load the pre-trained demo ViT, apply one PEFT method, fine-tune on the
 * downstream task. Runs in its own process (see run.ts) so peak memory is this method's own.
 */
import { readSafetensors } from "../checkpoint/safetensors.js";
import { loadPretrained } from "../models/load.js";
import { createVitParams } from "../models/vit.js";
import { applyAdapters } from "../peft/apply.js";
import { Rng } from "../random.js";
import { fit, type FitResult } from "./fit.js";
import type { DemoMethod } from "./methods.js";
import { DEMO_VIT, downstreamTask, splitTrainVal } from "./mnist-tasks.js";

export interface MethodRun extends FitResult {
  label: string;
  trainable: number;
  all: number;
}

export interface RunMethodOptions {
  weights: string;
  epochs: number;
  batch: number;
  testImages: number;
  seed: number;
  /** Model selection: train on the first 800 images and test on the other 200 (VTAB's train800/val200). */
  validation?: boolean;
}

export async function runMethod(m: DemoMethod, o: RunMethodOptions, log: (line: string) => void = () => {}): Promise<MethodRun> {
  const params = createVitParams(DEMO_VIT, new Rng(o.seed));
  const pretrained = readSafetensors(o.weights);
  // The downstream task has new classes: keep the fresh head, load everything else.
  pretrained.delete("head.weight");
  pretrained.delete("head.bias");
  loadPretrained(params, pretrained, { strict: true, ignoreMissing: (name) => name.startsWith("head.") });
  const model = applyAdapters({ cfg: DEMO_VIT, params, name: "demo-vit-mnist04" }, m.peft, { seed: o.seed });
  const { trainable, all } = model.trainableCounts();
  const task = downstreamTask(o.testImages);
  const { train, test } = o.validation ? splitTrainVal(task.train) : task;
  const result = await fit({
    params: model.params, classes: DEMO_VIT.numClasses, train, test, epochs: o.epochs, batch: o.batch,
    lr: m.lr, weightDecay: m.weightDecay, warmupEpochs: 1, seed: o.seed,
    forward: (g, bind, images, { train: isTrain, runInput }) => model.forward(g, bind, images, { train: isTrain, runInput }),
    onEpoch: (e) => log(`${m.label} epoch ${e.epoch}/${o.epochs}: loss ${e.loss.toFixed(4)}, test top-1 ${e.top1.toFixed(2)}% (${e.seconds.toFixed(1)} s)`),
  });
  return { ...result, label: m.label, trainable, all };
}
