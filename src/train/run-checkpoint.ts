/**
 * @file What a run saves in its training checkpoint and reads back on resume: the session's
 * trainable tensors and optimizer moments, the model EMA, the method runtime's state, and where in
 * the run it stopped (epoch, step in epoch, the epoch's loss so far, history, accuracies), so that
 * a resumed run continues bit for bit as the uninterrupted one.
 */
import * as fs from "node:fs";
import { ConfigError } from "../errors.js";
import { backboneOf } from "../models/registry.js";
import type { PeftModel } from "../peft/apply.js";
import type { MethodRuntime } from "../peft/method.js";
import { loadTrainingCheckpoint, modelFingerprint, saveTrainingCheckpoint, type CheckpointTensor, type JsonValue } from "./checkpoint.js";
import { AccuracyTracker, type AccuracyTrackerState } from "./metrics.js";
import { EMA_SUFFIX, type ModelEma } from "./model-ema.js";
import type { EpochRecord } from "./run-log.js";
import type { Stepper } from "./stepper.js";
import type { TrainerConfig } from "./trainer-config.js";

/** Where a run stands: what a checkpoint's position and `extra` carry. */
export class RunState {
  /** Epoch to run next (0-based) and the step within it to start at. */
  epoch = 0;
  stepInEpoch = 0;
  /** The current epoch's loss sum and sample count so far, and its seconds before an interruption. */
  lossSum = 0;
  lossCount = 0;
  carriedSeconds = 0;
  history: EpochRecord[] = [];
  tracker = new AccuracyTracker();
  /** Accuracies of the model EMA (when the run has one). */
  emaTracker = new AccuracyTracker();
}

/** A checkpoint's `extra`. `allocator` is the name older checkpoints gave the method runtime's state. */
interface ResumeExtra {
  stepInEpoch: number;
  lossSum: number;
  lossCount: number;
  epochSeconds: number;
  history: EpochRecord[];
  trainer: TrainerConfig;
  method?: JsonValue;
  allocator?: JsonValue;
  emaAccuracy?: AccuracyTrackerState;
}

/** Settings that may change on resume without changing the result. */
const RESULT_NEUTRAL: ReadonlySet<string> = new Set(["workers", "prefetch", "saveBest", "cacheImages", "evalMode"]);

/** Everything a run's checkpoints need besides the changing state. */
export interface RunIdentity {
  file: string;
  pm: PeftModel;
  cfg: TrainerConfig;
  runtime: MethodRuntime;
  ema: ModelEma | null;
  runConfig: JsonValue | null;
  fingerprint: string;
  fingerprintDescription: string;
}

/** The fingerprint of a run's model: backbone, PEFT config and the trained names with their shapes. */
export function runFingerprint(pm: PeftModel, trained: readonly string[]): { fingerprint: string; fingerprintDescription: string } {
  const backbone = backboneOf(pm.cfg);
  return {
    // The backbone config's key stays "vit" whatever the arch: checkpoints written before other backbones keep their fingerprint.
    fingerprint: modelFingerprint({ base: pm.baseFingerprint(), vit: pm.cfg, peft: pm.config, trainable: trained.map((n) => [n, pm.params.get(n).shape]) }),
    fingerprintDescription: `${pm.baseName ?? backbone.arch} (${backbone.describe(pm.cfg)}, ${pm.cfg.numClasses} classes) + ${pm.config.method}`,
  };
}

/** Writes the checkpoint of `state` at (epoch, stepInEpoch) atomically. */
export async function saveRunCheckpoint(id: RunIdentity, stepper: Stepper, state: RunState, epoch: number, stepInEpoch: number, epochSeconds: number): Promise<void> {
  const st = await stepper.session.exportState();
  const tensors: Record<string, Float32Array> = { ...st.tensors, ...id.ema?.toCheckpoint() };
  const params = new Map<string, CheckpointTensor>();
  const optimizer = new Map<string, CheckpointTensor>();
  for (const [n, data] of Object.entries(tensors)) {
    const slash = n.indexOf("/");
    const shape = id.pm.params.get(slash < 0 ? n : n.slice(0, slash)).shape;
    (slash < 0 ? params : optimizer).set(n, { shape, data });
  }
  const method = id.runtime.exportState?.() as JsonValue | undefined;
  const extra: ResumeExtra = {
    stepInEpoch, lossSum: state.lossSum, lossCount: state.lossCount, epochSeconds, history: state.history, trainer: id.cfg,
    ...(method !== undefined ? { method } : {}), ...(id.ema ? { emaAccuracy: state.emaTracker.toJSON() } : {}),
  };
  saveTrainingCheckpoint(id.file, {
    params, optimizer, rng: { seed: id.cfg.seed, scheme: "seed+epoch+step" }, step: st.step, epoch, accuracy: state.tracker.toJSON(),
    config: id.runConfig, fingerprint: id.fingerprint, fingerprintDescription: id.fingerprintDescription, extra: extra as unknown as JsonValue,
  });
}

/** Settings of the checkpointed run that differ from `cfg` and change results, as "name: old -> new". */
function changedSettings(before: TrainerConfig | undefined, cfg: TrainerConfig): string[] {
  if (!before) return [];
  return (Object.keys(cfg) as (keyof TrainerConfig)[])
    .filter((k) => !RESULT_NEUTRAL.has(k) && JSON.stringify(cfg[k]) !== JSON.stringify(before[k] ?? null))
    .map((k) => `${k}: ${JSON.stringify(before[k] ?? null)} -> ${JSON.stringify(cfg[k])}`);
}

/** Restores the session, EMA and method state from the checkpoint; returns the run state to continue from. */
export function restoreRun(id: RunIdentity, stepper: Stepper, log: (line: string) => void): RunState {
  if (!fs.existsSync(id.file)) throw new ConfigError(`nothing to resume: ${id.file} does not exist (train without --resume first)`);
  const ck = loadTrainingCheckpoint(id.file, { fingerprint: id.fingerprint, fingerprintDescription: id.fingerprintDescription });
  const tensors: Record<string, Float32Array> = {};
  for (const [n, t] of [...ck.params, ...ck.optimizer]) if (!n.endsWith(EMA_SUFFIX)) tensors[n] = t.data;
  stepper.session.importState({ step: ck.step, tensors });
  id.ema?.restore(ck.optimizer, id.file);
  const ex = (ck.extra ?? {}) as unknown as ResumeExtra;
  const changed = changedSettings(ex.trainer, id.cfg);
  if (changed.length) log(`note: resuming with changed settings (${changed.join(", ")}); the run will not match an uninterrupted one`);
  const s = new RunState();
  s.epoch = ck.epoch;
  s.stepInEpoch = ex.stepInEpoch ?? 0;
  s.lossSum = ex.lossSum ?? 0;
  s.lossCount = ex.lossCount ?? 0;
  s.carriedSeconds = ex.epochSeconds ?? 0;
  s.history = ex.history ?? [];
  s.tracker = new AccuracyTracker(ck.accuracy);
  if (ex.emaAccuracy) s.emaTracker = new AccuracyTracker(ex.emaAccuracy);
  const methodState = ex.method ?? ex.allocator;
  if (methodState !== undefined) id.runtime.importState?.(methodState);
  log(`resumed from ${id.file}: epoch ${s.epoch + 1}${s.stepInEpoch ? `, step ${s.stepInEpoch + 1}` : ""} (${ck.step} optimizer steps done)`);
  return s;
}
