/**
 * @file One run of the trainer: the sessions, the method's runtime hooks, the model EMA and the run
 * state, and the work of one epoch (steps, evaluation, log record, checkpoint). `train()` drives it.
 * Nothing here knows a method by name: what a method feeds, does after a step and saves comes
 * from its `MethodRuntime`.
 */
import * as path from "node:path";
import type { PeftModel } from "../peft/apply.js";
import type { MethodRuntime } from "../peft/method.js";
import type { Feed } from "../runtime/compiled.js";
import { removeStaleTemps } from "../checkpoint/atomic.js";
import type { JsonValue } from "./checkpoint.js";
import { describeEpoch, epochRecord } from "./epoch-record.js";
import type { EvalSummary } from "./evaluate.js";
import { ModelEma } from "./model-ema.js";
import { createProgress, type ProgressOptions } from "./progress.js";
import { restoreRun, RunState, runFingerprint, saveRunCheckpoint, type RunIdentity } from "./run-checkpoint.js";
import { RunEvaluation } from "./run-eval.js";
import type { RunInputs } from "./run-inputs.js";
import { RunLog, type EpochRecord } from "./run-log.js";
import { authorsEvaluateAfter, type LrSchedule } from "./schedule.js";
import { GRAD_NORM_OUTPUT, type TrainSessionOptions } from "./step-session.js";
import { coreStep, openStepCore } from "./step-core.js";
import type { Stepper } from "./stepper.js";
import type { BatchSource } from "./tensor-loader.js";
import { RUN_FILES, type TrainerConfig } from "./trainer-config.js";

/** What a run is set up from. */
export interface RunSetup {
  pm: PeftModel;
  cfg: TrainerConfig;
  trainLoader: BatchSource;
  evalLoader: BatchSource | null;
  outDir?: string;
  resume?: boolean;
  runConfig?: JsonValue;
  session?: TrainSessionOptions;
  log: (line: string) => void;
}

export class TrainingRun {
  /** Step times of this process's steps (resumed epochs excluded). */
  readonly stepSeconds: number[] = [];
  private readonly evaluation: RunEvaluation | null;

  private constructor(
    readonly setup: RunSetup,
    readonly stepper: Stepper,
    readonly runtime: MethodRuntime,
    readonly runInputs: RunInputs,
    readonly ema: ModelEma | null,
    readonly schedule: LrSchedule,
    private readonly id: RunIdentity | null,
    private readonly runLog: RunLog | null,
    readonly state: RunState,
  ) {
    this.evaluation = setup.evalLoader ? new RunEvaluation(stepper, setup.evalLoader, setup.cfg, runInputs, setup.session?.device) : null;
  }

  /** Builds the sessions and hooks; restores the checkpoint when resuming. */
  static async open(s: RunSetup): Promise<TrainingRun> {
    const { pm, cfg } = s;
    const stepsPerEpoch = s.trainLoader.numBatches;
    const { stepper, runtime, runInputs, schedule } = await openStepCore(pm, cfg, stepsPerEpoch, s.session);
    const trained = await stepper.trained().catch(async (err: unknown) => {
      await stepper.release();
      throw err;
    });
    const ema = cfg.modelEma !== null ? new ModelEma(cfg.modelEma, trained) : null;
    const id: RunIdentity | null = s.outDir
      ? { file: path.join(s.outDir, RUN_FILES.checkpoint), pm, cfg, runtime, ema, runConfig: s.runConfig ?? null, ...runFingerprint(pm, Object.keys(trained)) }
      : null;
    try {
      const state = s.resume && id ? restoreRun(id, stepper, s.log) : new RunState();
      const runLog = s.outDir ? RunLog.open(path.join(s.outDir, RUN_FILES.log), s.resume ? { resumeAtEpoch: state.epoch } : {}) : null;
      if (id) removeStaleTemps(id.file);
      return new TrainingRun(s, stepper, runtime, runInputs, ema, schedule, id, runLog, state);
    } catch (err) {
      // A refused resume (another model's checkpoint, a torn log) must not leak the compiled sessions.
      await stepper.release();
      throw err;
    }
  }

  /** Writes a checkpoint of the current state at (epoch, stepInEpoch); a no-op without an out folder. */
  async checkpoint(epoch: number, stepInEpoch: number, epochSeconds: number): Promise<void> {
    if (this.id) await saveRunCheckpoint(this.id, this.stepper, this.state, epoch, stepInEpoch, epochSeconds);
  }

  get checkpointFile(): string | undefined {
    return this.id?.file;
  }

  /** One optimizer step on a batch, with the method's hooks around it (step-core.ts); returns the step's loss. */
  private async step(batch: { images: Feed; labels: Feed; count: number }, epoch: number, stepInEpoch: number, gradNorms: number[]): Promise<number> {
    const r = await coreStep(this, this.setup.cfg, batch, epoch, stepInEpoch, this.ema);
    this.stepSeconds.push(r.seconds);
    const gn = r.outputs[GRAD_NORM_OUTPUT];
    if (gn) gradNorms.push(gn[0]!);
    return r.loss;
  }

  /**
   * Trains epoch `e` from its first step (or where a resume left it), then evaluates when due and
   * logs. Returns false when `signal` stopped it mid-epoch (a checkpoint to resume from is written).
   */
  async runEpoch(e: number, signal: AbortSignal | undefined, progressOpts: Partial<ProgressOptions> | null): Promise<{ completed: boolean; rec?: EpochRecord; newBest?: boolean }> {
    const { cfg, trainLoader } = this.setup;
    const st = this.state;
    const te = performance.now();
    const first = e === st.epoch ? st.stepInEpoch : 0;
    if (first === 0) { st.lossSum = 0; st.lossCount = 0; st.carriedSeconds = 0; this.runtime.beginEpoch?.(e); }
    const spe = trainLoader.numBatches;
    const dec0 = { ...trainLoader.stats };
    const n0 = this.stepSeconds.length;
    const gradNorms: number[] = [];
    const progress = progressOpts ? createProgress({ total: spe, label: `epoch ${e + 1}/${cfg.epochs}`, ...progressOpts }) : null;
    let s = first;
    for await (const batch of trainLoader.epoch(e, { startBatch: first })) {
      const stepInEpoch = s++;
      if (batch.count === 0) continue;
      const loss = await this.step(batch, e, stepInEpoch, gradNorms);
      st.lossSum += loss * batch.count;
      st.lossCount += batch.count;
      progress?.update(stepInEpoch + 1, { loss: st.lossSum / st.lossCount, lr: this.schedule.lrAt(e, stepInEpoch) });
      if (signal?.aborted && s < spe) {
        progress?.stop();
        await this.checkpoint(e, s, st.carriedSeconds + (performance.now() - te) / 1000);
        return { completed: false };
      }
    }
    progress?.stop();
    const due = e === cfg.epochs - 1 || (cfg.evalEvery === "authors" ? authorsEvaluateAfter(e, cfg.epochs) : cfg.evalEvery > 0 && (e + 1) % cfg.evalEvery === 0);
    const { live, ema } = due ? await this.evaluateBoth(e) : { live: null, ema: null };
    const newBest = live ? st.tracker.update({ epoch: e, top1: live.top1, top5: live.top5 }) : false;
    if (ema) st.emaTracker.update({ epoch: e, top1: ema.top1, top5: ema.top5 });
    const rec = epochRecord({
      epoch: e, lr: this.schedule.lrAt(e, 0), lossSum: st.lossSum, lossCount: st.lossCount, seconds: st.carriedSeconds + (performance.now() - te) / 1000,
      stepTimes: this.stepSeconds.slice(n0), decode: [dec0, trainLoader.stats], gradNorms, live, ema, method: this.runtime.epochFields?.() ?? {},
    });
    st.history.push(rec);
    this.runLog?.append(rec);
    await this.checkpoint(e + 1, 0, 0);
    this.setup.log(describeEpoch(rec, cfg.epochs, newBest));
    return { completed: true, rec, newBest };
  }

  /** Evaluates the live model and, with a model EMA, the EMA; an evaluation error keeps the trained adapter first. */
  private async evaluateBoth(epoch: number): Promise<{ live: EvalSummary | null; ema: EvalSummary | null }> {
    if (!this.evaluation) return { live: null, ema: null };
    try {
      const live = await this.evaluation.evaluate();
      const ema = this.ema ? await this.evaluation.evaluate(Object.fromEntries(this.ema.values)) : null;
      return { live, ema };
    } catch (err) {
      if (this.setup.outDir && epoch === this.setup.cfg.epochs - 1) {
        await this.saveAdapter(RUN_FILES.adapter);
        this.setup.log(`evaluation failed after the last epoch; the adapter was saved to ${path.join(this.setup.outDir, RUN_FILES.adapter)}`);
      }
      throw err;
    }
  }

  /** Saves the live (or EMA) trained values as an adapter under `<outDir>/<name>`. */
  async saveAdapter(name: string, values?: Readonly<Record<string, Float32Array>>): Promise<string | undefined> {
    if (!this.setup.outDir) return undefined;
    const dir = path.join(this.setup.outDir, name);
    this.stepper.view(values ?? await this.stepper.trained()).saveAdapter(dir);
    return dir;
  }

  /** Copies the trained values (and the method's run state) into the caller's model. */
  async syncModel(): Promise<void> {
    await this.stepper.session.syncParams();
    this.runtime.storeInto?.(this.setup.pm.params);
  }

  async release(): Promise<void> {
    await this.stepper.release();
    await this.evaluation?.release();
  }
}
