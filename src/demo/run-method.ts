/**
 * @file One demo row: load the pre-trained demo ViT, apply one PEFT method, fine-tune on the
 * downstream task with the library's trainer. Runs in its own process (see run.ts) so peak memory
 * is this method's own.
 */
import { readSafetensors } from "../checkpoint/safetensors.js";
import type { Device } from "../runtime/device.js";
import { loadPretrained } from "../models/load.js";
import { backboneOf } from "../models/registry.js";
import type { BackbonePrecision } from "../models/backbone-precision.js";
import { applyAdapters } from "../peft/apply.js";
import { Rng } from "../random.js";
import { train } from "../train/trainer.js";
import type { DemoMethod } from "./methods.js";
import { DEMO_SCHEDULE, DEMO_VIT, downstreamTask, splitTrainVal } from "./mnist-tasks.js";

/** One method's outcome: the table row and the curves. */
export interface MethodRun {
  label: string;
  /** Per epoch (1-based): mean training loss, test top-1 (%), seconds. */
  history: { epoch: number; loss: number; top1: number; seconds: number }[];
  /** Top-1 after the last epoch and the highest over the epochs (what the SNELL authors report). */
  last: number;
  best: number;
  /** Median seconds of a training step. */
  secondsPerStep: number;
  peakRssMiB: number;
  seconds: number;
  trainable: number;
  all: number;
}

export interface RunMethodOptions {
  weights: string;
  epochs: number;
  batch: number;
  /** Test digits to score (default: all). */
  testImages?: number;
  seed: number;
  /** Model selection: train on the first 800 images and test on the other 200 (VTAB's train800/val200). */
  validation?: boolean;
  /** A run folder for the trainer's log.jsonl, checkpoint and adapter/ (what `snell report` reads); none by default. */
  outDir?: string;
  /** Where the step and eval graphs run (default "cpu"). */
  device?: Device;
  /** "int8": the frozen backbone's block linears int8 (full fine-tuning, which trains them, stays fp32). */
  backbonePrecision?: BackbonePrecision;
}

export async function runMethod(m: DemoMethod, o: RunMethodOptions, log: (line: string) => void = () => {}): Promise<MethodRun> {
  const params = backboneOf(DEMO_VIT).createParams(DEMO_VIT, new Rng(o.seed));
  const pretrained = readSafetensors(o.weights);
  // The downstream task has new classes: keep the fresh head, load everything else.
  pretrained.delete("head.weight");
  pretrained.delete("head.bias");
  loadPretrained(params, pretrained, { strict: true, ignoreMissing: (name) => name.startsWith("head.") });
  const int8 = o.backbonePrecision === "int8" && m.peft.method !== "full";
  const model = applyAdapters({ cfg: DEMO_VIT, params, name: "demo-vit-mnist04" }, m.peft, { seed: o.seed, ...(int8 ? { backbonePrecision: "int8" as const } : {}) });
  const task = downstreamTask(o.testImages);
  const { train: trainSet, test } = o.validation ? splitTrainVal(task.train) : task;
  const r = await train({
    model, train: trainSet, eval: test, ...(o.outDir ? { outDir: o.outDir } : {}),
    config: { ...DEMO_SCHEDULE, epochs: o.epochs, batchSize: o.batch, lr: m.lr, weightDecay: m.weightDecay, seed: o.seed },
    ...(o.device ? { session: { device: o.device } } : {}),
    onEpoch: (e) => log(`${m.label} epoch ${e.epoch + 1}/${o.epochs}: loss ${e.loss.toFixed(4)}, test top-1 ${e.top1!.toFixed(2)}% (${e.seconds.toFixed(1)} s)`),
  });
  return {
    label: m.label + (o.backbonePrecision === "int8" && !int8 ? " (fp32)" : ""),
    history: r.history.map((h) => ({ epoch: h.epoch + 1, loss: h.loss, top1: h.top1!, seconds: h.seconds })),
    last: r.last!.top1, best: r.best!.top1,
    secondsPerStep: r.medianStepSeconds, peakRssMiB: r.peakRssMiB, seconds: r.seconds,
    trainable: r.trainable, all: r.all,
  };
}
