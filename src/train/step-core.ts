/**
 * @file The core of a training run with no files: the method's runtime hooks, the per-step run inputs,
 * the learning-rate schedule and the step session, and one optimizer step with the hooks around it.
 * The trainer (TrainingRun, which adds checkpoints, logs and progress) and the browser page
 * (web/fine-tune.ts) both drive their steps through it, so the page trains exactly as `snell train`.
 */
import type { PeftModel } from "../peft/apply.js";
import type { MethodRuntime } from "../peft/method.js";
import type { Feed } from "../runtime/compiled.js";
import { assertFiniteLoss } from "./metrics.js";
import type { ModelEma } from "./model-ema.js";
import { RunInputs } from "./run-inputs.js";
import { createLrSchedule, type LrSchedule } from "./schedule.js";
import type { StepResult, TrainSessionOptions } from "./step-session.js";
import { Stepper } from "./stepper.js";
import type { TrainerConfig } from "./trainer-config.js";

export interface StepCore {
  stepper: Stepper;
  runtime: MethodRuntime;
  runInputs: RunInputs;
  schedule: LrSchedule;
}

/** Builds the method's hooks, the run inputs, the step session and the schedule for `stepsPerEpoch`. */
export async function openStepCore(pm: PeftModel, cfg: TrainerConfig, stepsPerEpoch: number, session?: TrainSessionOptions): Promise<StepCore> {
  const runtime = pm.method.runtime?.({ config: pm.config, sites: pm.sites, seed: cfg.seed, epochs: cfg.epochs, stepsPerEpoch }) ?? {};
  const runInputs = new RunInputs(cfg.seed, runtime.feeds ? (step) => runtime.feeds!(step) : null);
  const stepper = await Stepper.create(pm, cfg, runtime, runInputs, session);
  const schedule = createLrSchedule({
    baseLr: cfg.lr, epochs: cfg.epochs, warmupEpochs: cfg.warmupEpochs, warmupLr: cfg.warmupLr, minLr: cfg.minLr, update: cfg.scheduleUpdate, stepsPerEpoch,
  });
  return { stepper, runtime, runInputs, schedule };
}

/**
 * One optimizer step on a batch of `count` real samples (the rest of the batch is padding, weighted 0)
 * at the schedule's lr, with the method's hooks around it; `ema`, when given, follows the new values.
 */
export async function coreStep(
  c: StepCore, cfg: TrainerConfig, batch: { images: Feed; labels: Feed; count: number }, epoch: number, stepInEpoch: number, ema: ModelEma | null = null,
): Promise<StepResult & { lr: number; seconds: number }> {
  const lr = c.schedule.lrAt(epoch, stepInEpoch);
  const globalStep = c.stepper.steps;
  c.runtime.beginStep?.(globalStep);
  const weights = new Float32Array(cfg.batchSize);
  weights.fill(1, 0, batch.count);
  const ts = performance.now();
  const r = await c.stepper.step({ images: batch.images, labels: batch.labels, weights, ...c.runInputs.feeds(globalStep) }, lr);
  const seconds = (performance.now() - ts) / 1000;
  assertFiniteLoss(r.loss, { epoch, step: stepInEpoch, lr });
  // The state is read back (from a GPU) only when a hook or the EMA needs the values after the step.
  if (c.runtime.afterStep || ema) {
    const after = (await c.stepper.session.exportState()).tensors;
    c.runtime.afterStep?.({ globalStep, grads: r.grads, after: (n) => after[n]! });
    ema?.update((n) => after[n]!);
  }
  return { ...r, lr, seconds };
}
