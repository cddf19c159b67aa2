/**
 * @file The fine-tuning loop as a library call: `await train({ model, train, eval, transforms })` runs
 * AdamW with the SNELL authors' cosine schedule, evaluates top-1/top-5, writes a JSON-lines log,
 * atomic resumable checkpoints and the adapter, and returns the per-epoch history with the last and
 * the best accuracy. Everything random is a function of (seed, epoch, step), so `resume` reproduces
 * the uninterrupted run bit for bit. The work of a run lives in TrainingRun; the method's part of it
 * in the method's runtime hooks (src/peft/<method>/runtime.ts).
 */
import * as path from "node:path";
import type { Dataset } from "../data/dataset.js";
import type { TransformSpec } from "../data/transforms.js";
import { ConfigError } from "../errors.js";
import type { PeftModel } from "../peft/apply.js";
import { peakRssMiB } from "../runtime/memory.js";
import type { JsonValue } from "./checkpoint.js";
import { median } from "./epoch-record.js";
import { checkClasses, loaderFor } from "./loaders.js";
import type { EvalPoint } from "./metrics.js";
import type { ProgressOptions } from "./progress.js";
import type { EpochRecord } from "./run-log.js";
import type { TrainSessionOptions } from "./step-session.js";
import type { BatchSource, TensorData } from "./tensor-loader.js";
import { RUN_FILES, resolveTrainerConfig, type TrainerConfig } from "./trainer-config.js";
import { TrainingRun } from "./training-run.js";

export { describeEpoch } from "./epoch-record.js";
export { RUN_FILES, TRAINER_DEFAULTS, type TrainerConfig } from "./trainer-config.js";

/** Options of `train`. */
export interface TrainOptions {
  /** The model with adapters applied; its trainable flags say what trains. Its params receive the result. */
  model: PeftModel;
  /** Image files to decode (a Dataset), or preprocessed tensors in memory ([count, C, H, W]). */
  train: Dataset | TensorData;
  /** Evaluation set (VTAB-1k: test); without it no accuracy is reported. */
  eval?: Dataset | TensorData;
  /** Preprocessing of Dataset images (unused for TensorData). */
  transforms?: { train: TransformSpec; eval: TransformSpec };
  config?: Partial<TrainerConfig>;
  /** Where checkpoints, log.jsonl and the adapter go; without it nothing is written. */
  outDir?: string;
  /** Continue from `<outDir>/checkpoint.safetensors`. */
  resume?: boolean;
  /** Aborting stops after the current step with a resumable checkpoint (`interrupted: true`). */
  signal?: AbortSignal;
  /** Human-readable lines (epoch summaries, notes). */
  log?: (line: string) => void;
  /** Progress display per epoch: a bar on a TTY, plain lines otherwise; off by default. */
  progress?: boolean | Pick<ProgressOptions, "stream" | "tty" | "intervalMs">;
  /** Called after each epoch with its log record. */
  onEpoch?: (rec: EpochRecord) => void;
  /** The caller's full resolved config, stored in checkpoints for `snell info`. */
  runConfig?: JsonValue;
  /** Session options: the device ("webgpu" keeps the trained state in GPU memory), graph optimisation level, threads, ... */
  session?: TrainSessionOptions;
}

/** What `train` returns. */
export interface TrainResult {
  /** One record per epoch (also the lines of log.jsonl), resumed epochs included. */
  history: EpochRecord[];
  /** The final evaluation ("last" accuracy). */
  last: EvalPoint | null;
  /** The evaluation with the highest top-1 ("best", the number the SNELL paper reports). */
  best: EvalPoint | null;
  /** With a model EMA: its last and best evaluations. */
  ema?: { last: EvalPoint | null; best: EvalPoint | null };
  /**
   * The accuracy to report: the best top-1 of the live model, or of the EMA where that is higher
   * (the authors' train_alloc_ema.py returns max(max_accuracy, max_accuracy_ema)).
   */
  reported: (EvalPoint & { source: "live" | "ema" }) | null;
  /** One line naming both. */
  summary: string;
  /** True when stopped by the signal; a checkpoint to resume from was written. */
  interrupted: boolean;
  epochsDone: number;
  steps: number;
  seconds: number;
  peakRssMiB: number;
  /** Median wall time of a training step this run. */
  medianStepSeconds: number;
  trainable: number;
  all: number;
  /** Images left out under skipBadImages (training and evaluation). */
  skippedImages: number;
  checkpoint?: string;
  adapterDir?: string;
  /** With a model EMA: the adapter holding the EMA values (`<outDir>/adapter-ema`). */
  emaAdapterDir?: string;
}

/** The reported accuracy: the live model's best, or the EMA's where higher. */
function reportedAccuracy(live: EvalPoint | null, ema: EvalPoint | null): TrainResult["reported"] {
  if (ema && (!live || ema.top1 > live.top1)) return { ...ema, source: "ema" };
  return live ? { ...live, source: "live" } : null;
}

/**
 * Fine-tunes `model` on `train`, evaluating on `eval`. Stops with a RuntimeError on a NaN/inf loss
 * (no checkpoint is written after the last good one). With `outDir`, writes `checkpoint.safetensors`
 * atomically after every epoch (and on abort), appends `log.jsonl`, and saves the adapter to `adapter/`.
 *
 * @example
 * const r = await train({ model, train: trainSet, eval: testSet, transforms, config: { epochs: 10, lr: 1e-3 }, outDir: "runs/a" });
 * console.log(r.summary);
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const cfg = resolveTrainerConfig(opts.config);
  const pm = opts.model;
  const log = opts.log ?? (() => {});
  checkClasses(pm, opts.train, opts.eval);
  if (opts.resume && !opts.outDir) throw new ConfigError("resume needs outDir (the folder holding checkpoint.safetensors)");
  const trainLoader = loaderFor(pm, cfg, opts.train, true, opts.transforms);
  const evalLoader: BatchSource | null = opts.eval ? loaderFor(pm, cfg, opts.eval, false, opts.transforms) : null;
  let run: TrainingRun | null = null;
  try {
    run = await TrainingRun.open({
      pm, cfg, trainLoader, evalLoader, log, ...(opts.outDir ? { outDir: opts.outDir } : {}), ...(opts.resume ? { resume: true } : {}),
      ...(opts.runConfig !== undefined ? { runConfig: opts.runConfig } : {}), ...(opts.session ? { session: opts.session } : {}),
    });
    const progressOpts = opts.progress === true ? {} : opts.progress || null;
    let interrupted = false;
    for (let e = run.state.epoch; e < cfg.epochs && !interrupted; e++) {
      const r = await run.runEpoch(e, opts.signal, progressOpts);
      if (!r.completed) { interrupted = true; break; }
      run.state.epoch = e + 1;
      run.state.stepInEpoch = 0;
      if (r.newBest && cfg.saveBest) await run.saveAdapter(RUN_FILES.bestAdapter);
      opts.onEpoch?.(r.rec!);
      if (opts.signal?.aborted && e + 1 < cfg.epochs) interrupted = true;
    }
    return await finish(run, opts, interrupted, trainLoader, evalLoader, t0);
  } finally {
    await trainLoader.close();
    await evalLoader?.close();
    await run?.release();
  }
}

/** Saves the adapters of a completed run and builds its result. */
async function finish(run: TrainingRun, opts: TrainOptions, interrupted: boolean, trainLoader: BatchSource, evalLoader: BatchSource | null, t0: number): Promise<TrainResult> {
  const { state, ema } = run;
  let adapterDir: string | undefined, emaAdapterDir: string | undefined;
  if (!interrupted) {
    await run.syncModel();
    if (opts.outDir) opts.model.saveAdapter((adapterDir = path.join(opts.outDir, RUN_FILES.adapter)));
    if (ema) emaAdapterDir = await run.saveAdapter(RUN_FILES.emaAdapter, Object.fromEntries(ema.values));
  }
  const { trainable, all } = opts.model.trainableCounts();
  const emaAcc = ema ? { last: state.emaTracker.last, best: state.emaTracker.best } : undefined;
  const reported = reportedAccuracy(state.tracker.best, emaAcc?.best ?? null);
  const summary = state.tracker.describe() + (reported?.source === "ema" ? `; model EMA best: top-1 ${reported.top1.toFixed(2)}% (epoch ${reported.epoch + 1}), reported as the authors' max(live, EMA)` : "");
  return {
    history: state.history, last: state.tracker.last, best: state.tracker.best, ...(emaAcc ? { ema: emaAcc } : {}), reported, summary, interrupted,
    epochsDone: state.epoch, steps: run.stepper.steps, seconds: (performance.now() - t0) / 1000, peakRssMiB: peakRssMiB(),
    medianStepSeconds: median(run.stepSeconds), trainable, all,
    skippedImages: trainLoader.stats.skipped + (evalLoader?.stats.skipped ?? 0),
    ...(run.checkpointFile ? { checkpoint: run.checkpointFile } : {}), ...(adapterDir ? { adapterDir } : {}), ...(emaAdapterDir ? { emaAdapterDir } : {}),
  };
}
