/**
 * @file fineTune(): the demo backbone fine-tuned on tensors in memory with one of the demo's methods,
 * step by step, with a callback per step and per evaluation. Its steps are the trainer's (train/step-core.ts:
 * the method's hooks, the run inputs, the schedule, the masked loss) without files, so the same code runs
 * in a web page on onnxruntime-web and in Node on onnxruntime-node; the tests compare the two.
 */
import { parseSafetensors } from "../checkpoint/safetensors-bytes.js";
import type { DemoMethod } from "../demo/methods.js";
import { DEMO_SCHEDULE, DEMO_VIT } from "../demo/demo-model.js";
import { ConfigError } from "../errors.js";
import type { BackboneConfigBase } from "../models/backbone.js";
import { loadPretrained } from "../models/load.js";
import { backboneOf } from "../models/registry.js";
import { applyAdapters, type PeftModel } from "../peft/apply.js";
import { Rng } from "../random.js";
import type { Device } from "../runtime/device.js";
import { RunEvaluation } from "../train/run-eval.js";
import { coreStep, openStepCore } from "../train/step-core.js";
import { TensorLoader, type TensorData } from "../train/tensor-loader.js";
import { resolveTrainerConfig, type TrainerConfig } from "../train/trainer-config.js";

/** The variant name adapters record as their base model (as `snell train --model demo-vit-mnist04`). */
export const DEMO_BASE_NAME = "demo-vit-mnist04";

/** One training step's report. */
export interface StepPoint {
  /** Global step, 1-based. */
  step: number;
  epoch: number;
  loss: number;
  lr: number;
}

/** One evaluation's report (after an epoch, or after `maxSteps`). */
export interface EvalPointWeb {
  step: number;
  epoch: number;
  top1: number;
  count: number;
}

export interface FineTuneOptions {
  /** The demo backbone's safetensors bytes (demo/pretrained-vit-mnist04.safetensors). */
  weights: Uint8Array;
  method: DemoMethod;
  train: TensorData;
  test: TensorData;
  /** Classes of the task: the head is fresh with this many outputs. */
  numClasses: number;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Stop (and evaluate) after this many steps; default: all epochs. */
  maxSteps?: number;
  device?: Device;
  onStep?: (p: StepPoint) => void | Promise<void>;
  onEval?: (p: EvalPointWeb) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface FineTuneResult {
  /** The adapted model holding the trained values (ready for adapter files, merge, export). */
  model: PeftModel;
  losses: number[];
  evals: EvalPointWeb[];
  /** Top-1 (%) of the last evaluation. */
  top1: number;
  config: TrainerConfig;
}

/** The demo backbone with a fresh `numClasses` head and the method applied, as the demo's runMethod builds it. */
export function demoModel(weights: Uint8Array, method: DemoMethod, numClasses: number, seed: number): PeftModel {
  const cfg: BackboneConfigBase = { ...DEMO_VIT, numClasses };
  const params = backboneOf(cfg).createParams(cfg, new Rng(seed));
  const pretrained = parseSafetensors(weights, "demo backbone").tensors;
  // The downstream task has new classes: keep the fresh head, load everything else.
  pretrained.delete("head.weight");
  pretrained.delete("head.bias");
  loadPretrained(params, pretrained, { strict: true, ignoreMissing: (name) => name.startsWith("head.") });
  return applyAdapters({ cfg, params, name: DEMO_BASE_NAME }, method.peft, { seed });
}

/**
 * Fine-tunes the demo backbone with `method` (the demo's lr, decay and schedule) and evaluates after
 * every epoch and at `maxSteps`.
 *
 * @example
 * const r = await fineTune({ weights, method: DEMO_METHODS[2]!, train, test, numClasses: 5, epochs: 1, batchSize: 16, seed: 0 });
 * console.log(r.losses, r.top1);
 */
export async function fineTune(o: FineTuneOptions): Promise<FineTuneResult> {
  if (o.train.count < o.batchSize) throw new ConfigError(`fineTune: ${o.train.count} training images, fewer than one batch of ${o.batchSize}`);
  const pm = demoModel(o.weights, o.method, o.numClasses, o.seed);
  const cfg = resolveTrainerConfig({ ...DEMO_SCHEDULE, epochs: o.epochs, batchSize: o.batchSize, lr: o.method.lr, weightDecay: o.method.weightDecay, seed: o.seed });
  const per = DEMO_VIT.inChans * DEMO_VIT.imgSize * DEMO_VIT.imgSize;
  const trainLoader = new TensorLoader(o.train, per, { batchSize: cfg.batchSize, shuffle: true, seed: cfg.seed, dropLast: cfg.dropLast });
  const evalLoader = new TensorLoader(o.test, per, { batchSize: cfg.evalBatchSize ?? 2 * cfg.batchSize });
  const core = await openStepCore(pm, cfg, trainLoader.numBatches, o.device ? { device: o.device } : {});
  const { stepper, runtime, runInputs } = core;
  const evaluation = new RunEvaluation(stepper, evalLoader, cfg, runInputs, o.device ?? "cpu");
  const losses: number[] = [], evals: EvalPointWeb[] = [];
  const maxSteps = o.maxSteps ?? Infinity;
  const evaluate = async (epoch: number) => {
    const r = await evaluation.evaluate();
    const p = { step: stepper.steps, epoch, top1: r.top1, count: r.count };
    evals.push(p);
    await o.onEval?.(p);
  };
  try {
    for (let e = 0; e < cfg.epochs && stepper.steps < maxSteps && !o.signal?.aborted; e++) {
      runtime.beginEpoch?.(e);
      let s = 0;
      for await (const batch of trainLoader.epoch(e)) {
        const r = await coreStep(core, cfg, batch, e, s++);
        losses.push(r.loss);
        await o.onStep?.({ step: stepper.steps, epoch: e, loss: r.loss, lr: r.lr });
        if (stepper.steps >= maxSteps || o.signal?.aborted) break;
      }
      await evaluate(e);
    }
    await stepper.session.syncParams();
    runtime.storeInto?.(pm.params);
    return { model: pm, losses, evals, top1: evals.at(-1)?.top1 ?? NaN, config: cfg };
  } finally {
    await evaluation.release();
    await stepper.release();
  }
}
