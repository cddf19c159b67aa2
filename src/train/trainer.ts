/**
 * @file The fine-tuning loop as a library call: `await train({ model, train, eval, transforms })` runs
 * AdamW with the SNELL authors' cosine schedule, evaluates top-1/top-5, writes a JSON-lines log,
 * atomic resumable checkpoints and the adapter, and returns the per-epoch history with the last and
 * the best accuracy. Everything random is a function of (seed, epoch, step), so `resume` reproduces
 * the uninterrupted run bit for bit.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { DataLoader } from "../data/loader.js";
import type { Dataset } from "../data/dataset.js";
import { isRandom, type TransformSpec } from "../data/transforms.js";
import { ConfigError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { crossEntropy } from "../ir/losses.js";
import { ParameterStore, type ParamBinder } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import { PeftModel } from "../peft/apply.js";
import type { PeftConfig } from "../peft/config.js";
import { SnellaAllocator, type SnellaAllocatorState } from "../peft/snella/allocator.js";
import { storeSparsity } from "../peft/snella/method.js";
import type { SnellaConfig } from "../peft/snella/config.js";
import type { Feed } from "../runtime/compiled.js";
import { peakRssMiB } from "../runtime/memory.js";
import { removeStaleTemps } from "./atomic.js";
import { loadTrainingCheckpoint, modelFingerprint, saveTrainingCheckpoint, type CheckpointTensor, type JsonValue, type TrainingCheckpoint } from "./checkpoint.js";
import { evaluateLoader, Evaluator, type EvalSummary } from "./evaluate.js";
import { AccuracyTracker, assertFiniteLoss, type EvalPoint } from "./metrics.js";
import { createProgress, type ProgressOptions } from "./progress.js";
import { RunInputs, thresholdMissed, thresholdOutputs } from "./run-inputs.js";
import { RunLog, type EpochRecord } from "./run-log.js";
import { isTensorData, tensorClasses, TensorLoader, type BatchSource, type TensorData } from "./tensor-loader.js";
import { authorsEvaluateAfter, createLrSchedule, SNELL_SCHEDULE_DEFAULTS, type ScheduleUpdate } from "./schedule.js";
import { TrainSession, GRAD_NORM_OUTPUT, type SessionState, type StepGraphSpec, type StepResult, type TrainSessionOptions } from "./step-session.js";

/** Hyperparameters of a run (plain data, stored in checkpoints). */
export interface TrainerConfig {
  epochs: number;
  /** Training batch size; a short last batch is zero-padded and masked unless `dropLast`. */
  batchSize: number;
  /** Evaluation batch size (default: twice batchSize, as the authors' loader). */
  evalBatchSize: number | null;
  /** Peak learning rate. */
  lr: number;
  /** AdamW decoupled weight decay (not applied to 1-D params, cls_token, pos_embed). */
  weightDecay: number;
  betas: [number, number];
  eps: number;
  /** Cosine schedule with linear warm-up (timm's CosineLRScheduler as train.py builds it). */
  warmupEpochs: number;
  warmupLr: number;
  minLr: number;
  /** "epoch": the authors' per-epoch lr; "step": per optimizer step. */
  scheduleUpdate: ScheduleUpdate;
  /** Label smoothing epsilon of the cross-entropy. */
  labelSmoothing: number;
  /** Stochastic depth rate of the backbone's blocks (timm's drop_path_rate; the authors' scripts: 0.1); 0: off. */
  stochasticDepth: number;
  /** Clip gradients to this global L2 norm (in the step graph); null: off. */
  clipGrad: number | null;
  /** Evaluate after every N epochs (and after the last); "authors": every 10th and the last 10; 0: only after the last. */
  evalEvery: number | "authors";
  /** Seeds shuffling, augmentation and the methods' dropout masks. */
  seed: number;
  /** Decode worker threads. */
  workers: number;
  /** Batches decoded ahead of the step. */
  prefetch: number;
  /** Leave unreadable images out (counted) instead of failing. */
  skipBadImages: boolean;
  /** Drop a short last training batch instead of padding it. */
  dropLast: boolean;
  /** Keep decoded images in memory when the transform is deterministic (12·size² bytes per image). */
  cacheImages: boolean;
  /** Also write the adapter of the best evaluation to `<outDir>/adapter-best`. */
  saveBest: boolean;
  /**
   * "merged": evaluate with the adapters folded into the weights (a plain ViT forward, several times
   * faster; briefly holds a copy of the adapted weight matrices); "graph": the unmerged eval graph.
   * Methods that cannot merge (Adapter) always use the graph.
   */
  evalMode: "merged" | "graph";
}

/** Defaults: the authors' optimizer and schedule (train.py), evaluation after every epoch. */
export const TRAINER_DEFAULTS: Readonly<TrainerConfig> = {
  epochs: 100, batchSize: 32, evalBatchSize: null, lr: 1e-3, weightDecay: 1e-4, betas: [0.9, 0.999], eps: 1e-8,
  warmupEpochs: SNELL_SCHEDULE_DEFAULTS.warmupEpochs, warmupLr: SNELL_SCHEDULE_DEFAULTS.warmupLr, minLr: SNELL_SCHEDULE_DEFAULTS.minLr,
  scheduleUpdate: "epoch", labelSmoothing: 0, stochasticDepth: 0, clipGrad: null, evalEvery: 1, seed: 0, workers: 0, prefetch: 2,
  skipBadImages: false, dropLast: false, cacheImages: false, saveBest: false, evalMode: "merged",
};

/** Files a run writes under `outDir`. */
export const RUN_FILES = { checkpoint: "checkpoint.safetensors", log: "log.jsonl", adapter: "adapter", bestAdapter: "adapter-best" } as const;

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
  /** Session options (graph optimisation level, threads, ...). */
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
}

/** What a checkpoint's `extra` holds besides the tensors. */
interface ResumeExtra {
  stepInEpoch: number;
  lossSum: number;
  lossCount: number;
  epochSeconds: number;
  history: EpochRecord[];
  trainer: TrainerConfig;
  allocator?: JsonValue;
}

function checkConfig(c: TrainerConfig): void {
  const int = (k: keyof TrainerConfig, min: number) => {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) < min) throw new ConfigError(`train.${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  const num = (k: keyof TrainerConfig, lo: number, hi = Infinity) => {
    const v = c[k] as number;
    if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) throw new ConfigError(`train.${k} must be a number in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  };
  int("epochs", 1); int("batchSize", 1); int("warmupEpochs", 0); int("workers", 0); int("prefetch", 0);
  if (!Number.isSafeInteger(c.seed) || c.seed < 0) throw new ConfigError(`train.seed must be a non-negative integer, got ${JSON.stringify(c.seed)}`);
  if (c.evalBatchSize !== null) int("evalBatchSize", 1);
  num("lr", 0); num("weightDecay", 0); num("warmupLr", 0); num("minLr", 0); num("labelSmoothing", 0, 1);
  num("stochasticDepth", 0, 0.999);
  if (c.clipGrad !== null) num("clipGrad", Number.MIN_VALUE);
  if (c.evalEvery !== "authors") int("evalEvery", 0);
  if (c.evalMode !== "merged" && c.evalMode !== "graph") throw new ConfigError(`train.evalMode must be "merged" or "graph", got ${JSON.stringify(c.evalMode)}`);
}

/** Median of a list (0 when empty). */
function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** The same model with exact (sorted) thresholds: the rerun after a missed sample bracket. */
function exactThresholdModel(pm: PeftModel): PeftModel {
  const config = { ...pm.config, exactThreshold: true } as PeftConfig;
  return new PeftModel(pm.cfg, pm.params, config, pm.method, pm.sites, pm.baseNames, pm.addedNames, pm.baseName);
}

const hasThresholds = (pm: PeftModel) => pm.config.method === "snell" || pm.config.method === "snella";

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
  const cfg: TrainerConfig = { ...TRAINER_DEFAULTS, ...stripUndefined(opts.config ?? {}) };
  checkConfig(cfg);
  const pm = opts.model;
  const log = opts.log ?? (() => {});
  const C = pm.cfg.numClasses;
  const classesOf = (d: Dataset | TensorData) => (isTensorData(d) ? tensorClasses(d) : d.numClasses);
  if (classesOf(opts.train) > C) {
    throw new ConfigError(`the training set has ${classesOf(opts.train)} classes, the model's head ${C}; build the model with numClasses ${classesOf(opts.train)}`);
  }
  if (opts.eval && classesOf(opts.eval) > C) throw new ConfigError(`the evaluation set has ${classesOf(opts.eval)} classes, the model's head ${C}`);
  const shape = [pm.cfg.inChans, pm.cfg.imgSize, pm.cfg.imgSize];
  if (opts.resume && !opts.outDir) throw new ConfigError("resume needs outDir (the folder holding checkpoint.safetensors)");
  const evalB = cfg.evalBatchSize ?? 2 * cfg.batchSize;

  const loaderFor = (d: Dataset | TensorData, isTrain: boolean): BatchSource => {
    const batchSize = isTrain ? cfg.batchSize : evalB;
    if (isTensorData(d)) return new TensorLoader(d, shape[0]! * shape[1]! * shape[2]!, { batchSize, shuffle: isTrain, seed: cfg.seed, dropLast: isTrain && cfg.dropLast });
    const t = opts.transforms?.[isTrain ? "train" : "eval"];
    if (!t) throw new ConfigError("train(): image datasets need `transforms` (train and eval TransformSpec)");
    if (pm.cfg.inChans !== 3 || t.size !== pm.cfg.imgSize) {
      throw new ConfigError(`the ${isTrain ? "train" : "eval"} transform gives 3x${t.size}x${t.size} images, the model takes ${shape.join("x")}`);
    }
    return new DataLoader(d, {
      batchSize, transform: t, shuffle: isTrain, seed: cfg.seed, dropLast: isTrain && cfg.dropLast, workers: cfg.workers,
      prefetch: cfg.prefetch, skipBadImages: cfg.skipBadImages, cache: cfg.cacheImages && !isRandom(t),
    });
  };
  const trainLoader = loaderFor(opts.train, true);
  const evalLoader = opts.eval ? loaderFor(opts.eval, false) : null;
  const spe = trainLoader.numBatches;
  const schedule = createLrSchedule({
    baseLr: cfg.lr, epochs: cfg.epochs, warmupEpochs: cfg.warmupEpochs, warmupLr: cfg.warmupLr, minLr: cfg.minLr,
    update: cfg.scheduleUpdate, stepsPerEpoch: spe,
  });

  let alloc: SnellaAllocator | null = null;
  if (pm.config.method === "snella") {
    const sc = pm.config as SnellaConfig;
    alloc = new SnellaAllocator(pm.sites.map((s) => ({ path: s.path, nIn: s.nIn, nOut: s.nOut })), sc.sparsity, sc.allocator, {
      total: sc.allocator.unit === "epoch" ? cfg.epochs : cfg.epochs * spe, stepsPerEpoch: spe,
    });
  }
  const runInputs = new RunInputs(cfg.seed, alloc ? () => alloc!.feeds() : null);

  const specFor = (model: PeftModel): StepGraphSpec => ({
    params: model.params,
    optimizer: { kind: "adamw", weightDecay: cfg.weightDecay, betas: cfg.betas, eps: cfg.eps },
    ...(alloc ? { fetchGrads: alloc.factorNames() } : {}),
    ...(cfg.clipGrad !== null ? { clipGradNorm: cfg.clipGrad } : {}),
    build: (g: GraphBuilder, bind: ParamBinder, isTrain: boolean) => {
      const B = isTrain ? cfg.batchSize : evalB;
      const images = g.input("images", [B, ...shape]);
      const logits = model.forward(g, bind, images, { train: isTrain, runInput: runInputs.declarer(g), stochasticDepth: cfg.stochasticDepth });
      if (!isTrain) return { logits };
      const outputs = thresholdOutputs(g);
      const labels = g.input("labels", [B], "int64");
      // 1 for real rows, 0 for padding: the loss is the mean over real rows only.
      const weights = g.input("weights", [B]);
      const perSample = crossEntropy(g, logits, labels, { labelSmoothing: cfg.labelSmoothing, reduction: "none" });
      const loss: Value = g.scope("masked_mean", () => g.Div(g.ReduceSum(g.Mul(perSample, weights), [0], 0), g.ReduceSum(weights, [0], 0)));
      return { loss, logits, outputs };
    },
  });
  const held: TrainSession[] = [];
  const evaluatorHeld: { e: Evaluator | null } = { e: null };
  try {
    const session = await TrainSession.create(specFor(pm), opts.session);
    held.push(session);
    let exact: TrainSession | null = null;
    let evaluator: Evaluator | null = null;
    const exactSession = async (): Promise<TrainSession> => {
      if (!exact) held.push((exact = await TrainSession.create(specFor(exactThresholdModel(pm)), opts.session)));
      return exact;
    };

    const state0 = session.exportState();
    const fingerprintIdentity = {
      base: pm.baseFingerprint(), vit: pm.cfg, peft: pm.config,
      trainable: Object.keys(state0.tensors).filter((n) => !n.includes("/")).map((n) => [n, pm.params.get(n).shape]),
    };
    const fingerprint = modelFingerprint(fingerprintIdentity);
    const fingerprintDescription = `${pm.baseName ?? "ViT"} (${pm.cfg.embedDim}x${pm.cfg.depth}, ${C} classes) + ${pm.config.method}`;
    const ckptFile = opts.outDir ? path.join(opts.outDir, RUN_FILES.checkpoint) : null;

    const tracker = new AccuracyTracker();
    let history: EpochRecord[] = [];
    let startEpoch = 0, startBatch = 0, lossSum = 0, lossCount = 0, carriedSeconds = 0;
    if (opts.resume) {
      if (!fs.existsSync(ckptFile!)) throw new ConfigError(`nothing to resume: ${ckptFile} does not exist (train without --resume first)`);
      const ck = loadTrainingCheckpoint(ckptFile!, { fingerprint, fingerprintDescription });
      const tensors: Record<string, Float32Array> = {};
      for (const [n, t] of [...ck.params, ...ck.optimizer]) tensors[n] = t.data;
      session.importState({ step: ck.step, tensors });
      const ex = (ck.extra ?? {}) as unknown as ResumeExtra;
      const changed = Object.keys(cfg).filter((k) => !["workers", "prefetch", "saveBest", "cacheImages", "evalMode"].includes(k) &&
        JSON.stringify(cfg[k as keyof TrainerConfig]) !== JSON.stringify(ex.trainer?.[k as keyof TrainerConfig]));
      if (ex.trainer && changed.length) log(`note: resuming with changed settings (${changed.map((k) => `${k}: ${JSON.stringify(ex.trainer[k as keyof TrainerConfig])} -> ${JSON.stringify(cfg[k as keyof TrainerConfig])}`).join(", ")}); the run will not match an uninterrupted one`);
      startEpoch = ck.epoch;
      startBatch = ex.stepInEpoch ?? 0;
      lossSum = ex.lossSum ?? 0;
      lossCount = ex.lossCount ?? 0;
      carriedSeconds = ex.epochSeconds ?? 0;
      history = ex.history ?? [];
      tracker.last = ck.accuracy.last;
      tracker.best = ck.accuracy.best;
      if (alloc && ex.allocator) alloc.importState(ex.allocator as unknown as SnellaAllocatorState);
      log(`resumed from ${ckptFile}: epoch ${startEpoch + 1}${startBatch ? `, step ${startBatch + 1}` : ""} (${ck.step} optimizer steps done)`);
    }
    const runLog = opts.outDir ? RunLog.open(path.join(opts.outDir, RUN_FILES.log), opts.resume ? { resumeAtEpoch: startEpoch } : {}) : null;
    if (ckptFile) removeStaleTemps(ckptFile);

    const saveCheckpoint = (epoch: number, stepInEpoch: number, epochSeconds: number) => {
      if (!ckptFile) return;
      const st = session.exportState();
      const params = new Map<string, CheckpointTensor>();
      const optimizer = new Map<string, CheckpointTensor>();
      for (const [n, data] of Object.entries(st.tensors)) {
        const slash = n.indexOf("/");
        const shape = pm.params.get(slash < 0 ? n : n.slice(0, slash)).shape;
        (slash < 0 ? params : optimizer).set(n, { shape, data });
      }
      const extra: ResumeExtra = { stepInEpoch, lossSum, lossCount, epochSeconds, history, trainer: cfg, ...(alloc ? { allocator: alloc.exportState() as unknown as JsonValue } : {}) };
      const ck: TrainingCheckpoint = {
        params, optimizer, rng: { seed: cfg.seed, scheme: "seed+epoch+step" }, step: st.step, epoch, accuracy: tracker.toJSON(),
        config: opts.runConfig ?? null, fingerprint, fingerprintDescription, extra: extra as unknown as JsonValue,
      };
      saveTrainingCheckpoint(ckptFile, ck);
    };

    /** One optimizer step; reruns it with exact thresholds when a sample bracket missed. */
    const runStep = async (feeds: Record<string, Feed>, lr: number): Promise<{ r: StepResult; before: SessionState }> => {
      const before = session.exportState();
      let r = await session.step(feeds, lr);
      if (hasThresholds(pm) && thresholdMissed(r.outputs)) {
        const ex = await exactSession();
        ex.importState(before);
        r = await ex.step(feeds, lr);
        session.importState(ex.exportState());
      }
      return { r, before };
    };

    /** The model with the session's current trainable values (and SNELLA's current sparsities). */
    const trainedView = (): PeftModel => {
      const st = session.exportState();
      const ps = new ParameterStore();
      for (const p of pm.params.list()) ps.add(p.name, p.shape, st.tensors[p.name] ?? p.data, { trainable: p.trainable, decay: p.decay });
      if (alloc) storeSparsity(ps, alloc);
      return new PeftModel(pm.cfg, ps, pm.config, pm.method, pm.sites, pm.baseNames, pm.addedNames, pm.baseName);
    };

    const evaluate = async (): Promise<EvalSummary | null> => {
      if (!evalLoader) return null;
      if (cfg.evalMode === "merged" && Evaluator.canMerge(pm)) {
        const view = trainedView();
        if (evaluator) evaluator.update(view);
        else evaluatorHeld.e = evaluator = await Evaluator.create(view, evalB, { updatable: true });
        const ev = evaluator;
        return evaluateLoader((batch) => ev.logits(batch.images), evalLoader, C);
      }
      return evaluateLoader(async (batch) => {
        const feeds = { images: batch.images, ...runInputs.feeds(session.steps) };
        const r = await session.evaluate(feeds);
        if (!hasThresholds(pm) || !thresholdMissed(r.outputs)) return r.logits;
        const ex = await exactSession();
        ex.importState(session.exportState());
        return (await ex.evaluate(feeds)).logits;
      }, evalLoader, C);
    };

    const progressOpts = opts.progress === true ? {} : opts.progress || null;
    const stepSecondsRun: number[] = [];
    let interrupted = false;
    let epochsDone = startEpoch;
    for (let e = startEpoch; e < cfg.epochs && !interrupted; e++) {
      const te = performance.now();
      const dec0 = trainLoader.stats;
      const stepTimes: number[] = [];
      let gradNormSum = 0, gradNorms = 0;
        const epochLr = schedule.lrAt(e, 0);
      const first = e === startEpoch ? startBatch : 0;
      if (e !== startEpoch || startBatch === 0) { lossSum = 0; lossCount = 0; carriedSeconds = 0; }
      const progress = progressOpts ? createProgress({ total: spe, label: `epoch ${e + 1}/${cfg.epochs}`, ...progressOpts }) : null;
      let s = first;
      for await (const batch of trainLoader.epoch(e, { startBatch: first })) {
        const stepInEpoch = s++;
        if (batch.count === 0) continue;
        const lr = schedule.lrAt(e, stepInEpoch);
        const weights = new Float32Array(cfg.batchSize);
        weights.fill(1, 0, batch.count);
        const feeds: Record<string, Feed> = { images: batch.images, labels: batch.labels, weights, ...runInputs.feeds(session.steps) };
        const globalStep = session.steps;
        const ts = performance.now();
        const { r, before } = await runStep(feeds, lr);
        stepTimes.push((performance.now() - ts) / 1000);
        assertFiniteLoss(r.loss, { epoch: e, step: stepInEpoch, lr });
        if (alloc) alloc.update(globalStep, (name) => ({ value: before.tensors[name]!, grad: r.grads[name]! }));
        const gn = r.outputs[GRAD_NORM_OUTPUT];
        if (gn) { gradNormSum += gn[0]!; gradNorms++; }
        lossSum += r.loss * batch.count;
        lossCount += batch.count;
        progress?.update(stepInEpoch + 1, { loss: lossSum / lossCount, lr });
        if (opts.signal?.aborted && s < spe) {
          progress?.stop();
          saveCheckpoint(e, s, carriedSeconds + (performance.now() - te) / 1000);
          interrupted = true;
          break;
        }
      }
      if (interrupted) break;
      progress?.stop();
      stepSecondsRun.push(...stepTimes);
      const due = e === cfg.epochs - 1 || (cfg.evalEvery === "authors" ? authorsEvaluateAfter(e, cfg.epochs) : cfg.evalEvery > 0 && (e + 1) % cfg.evalEvery === 0);
      const ev = due ? await evaluate() : null;
      let newBest = false;
      if (ev) newBest = tracker.update({ epoch: e, top1: ev.top1, top5: ev.top5 });
      const dec1 = trainLoader.stats;
      const busy = dec1.busySeconds - dec0.busySeconds;
      const rec: EpochRecord = {
        epoch: e, lr: epochLr, loss: lossCount ? lossSum / lossCount : NaN, top1: ev ? ev.top1 : null, top5: ev ? ev.top5 : null,
        seconds: carriedSeconds + (performance.now() - te) / 1000, peakRssMiB: peakRssMiB(),
        steps: stepTimes.length, stepSeconds: median(stepTimes),
        decodeImagesPerSecond: busy > 0 ? (dec1.images - dec0.images) / busy : 0,
        dataWaitSeconds: dec1.waitSeconds - dec0.waitSeconds,
        evalSeconds: ev ? ev.seconds : 0,
        skippedImages: dec1.skipped - dec0.skipped,
        ...(gradNorms ? { gradNorm: gradNormSum / gradNorms } : {}),
        ...(alloc ? { snellaBudget: alloc.last.budget } : {}),
      };
      history.push(rec);
      runLog?.append(rec);
      epochsDone = e + 1;
      saveCheckpoint(e + 1, 0, 0);
      if (newBest && cfg.saveBest && opts.outDir) saveAdapterOf(session, pm, alloc, path.join(opts.outDir, RUN_FILES.bestAdapter));
      log(describeEpoch(rec, cfg.epochs, newBest));
      opts.onEpoch?.(rec);
      if (opts.signal?.aborted && e + 1 < cfg.epochs) interrupted = true;
    }
    let adapterDir: string | undefined;
    if (!interrupted) {
      session.syncParams();
      if (alloc) storeSparsity(pm.params, alloc);
      if (opts.outDir) {
        adapterDir = path.join(opts.outDir, RUN_FILES.adapter);
        pm.saveAdapter(adapterDir);
      }
    }
    const { trainable, all } = pm.trainableCounts();
    return {
      history, last: tracker.last, best: tracker.best, summary: tracker.describe(), interrupted, epochsDone,
      steps: session.steps, seconds: (performance.now() - t0) / 1000, peakRssMiB: peakRssMiB(),
      medianStepSeconds: median(stepSecondsRun), trainable, all,
      skippedImages: trainLoader.stats.skipped + (evalLoader?.stats.skipped ?? 0),
      ...(ckptFile ? { checkpoint: ckptFile } : {}), ...(adapterDir ? { adapterDir } : {}),
    };
  } finally {
    await trainLoader.close();
    await evalLoader?.close();
    for (const h of held) await h.release();
    await evaluatorHeld.e?.release();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Writes the session's current trainable values as an adapter without disturbing the run. */
function saveAdapterOf(session: TrainSession, pm: PeftModel, alloc: SnellaAllocator | null, dir: string): void {
  const st = session.exportState();
  const saved = new Map(pm.savedNames().map((n) => [n, pm.params.get(n).data]));
  for (const n of Object.keys(st.tensors)) if (!n.includes("/")) pm.params.set(n, st.tensors[n]!);
  if (alloc) storeSparsity(pm.params, alloc);
  pm.saveAdapter(dir);
  for (const [n, data] of saved) if (pm.params.has(n)) pm.params.set(n, data);
}

/** "epoch 3/10: lr 1.0e-3 loss 0.4123 top-1 81.20% top-5 98.00% (best) 12.3 s, step 0.21 s, decode 410 img/s, peak RSS 812 MiB". */
export function describeEpoch(r: EpochRecord, epochs: number, best = false): string {
  const acc = r.top1 === null ? "" : ` top-1 ${r.top1.toFixed(2)}% top-5 ${r.top5!.toFixed(2)}%${best ? " (best)" : ""}`;
  const skipped = (r.skippedImages as number) > 0 ? `, ${r.skippedImages} images skipped` : "";
  return `epoch ${r.epoch + 1}/${epochs}: lr ${r.lr.toExponential(2)} loss ${r.loss.toFixed(4)}${acc} ` +
    `${r.seconds.toFixed(1)} s, step ${(r.stepSeconds as number).toFixed(3)} s, decode ${Math.round(r.decodeImagesPerSecond as number)} img/s, ` +
    `peak RSS ${Math.round(r.peakRssMiB)} MiB${skipped}`;
}
