/**
 * @file The sessions of one run: the step session, and the rerun session a method asks for when a
 * step's outputs say so (SNELL: exact thresholds after a missed sample bracket). Also the views of
 * the model with trained values (live or EMA) that evaluation and adapter saving use.
 */
import { ParameterStore } from "../ir/parameters.js";
import { PeftModel } from "../peft/apply.js";
import type { PeftConfig } from "../peft/config.js";
import type { MethodRuntime } from "../peft/method.js";
import type { Feed } from "../runtime/compiled.js";
import type { RunInputs } from "./run-inputs.js";
import { stepGraphSpec } from "./step-spec.js";
import { TrainSession, type StepResult, type TrainSessionOptions } from "./step-session.js";
import type { TrainerConfig } from "./trainer-config.js";

/** `pm` with another config (same parameters, sites and names). */
function withConfig(pm: PeftModel, config: PeftConfig): PeftModel {
  return new PeftModel(pm.cfg, pm.params, config, pm.method, pm.sites, pm.baseNames, pm.addedNames, pm.baseName);
}

export class Stepper {
  private rerunSession: TrainSession | null = null;

  private constructor(
    readonly pm: PeftModel,
    readonly session: TrainSession,
    private readonly runtime: MethodRuntime,
    private readonly makeSession: (pm: PeftModel) => Promise<TrainSession>,
  ) {}

  static async create(pm: PeftModel, cfg: TrainerConfig, runtime: MethodRuntime, runInputs: RunInputs, opts?: TrainSessionOptions): Promise<Stepper> {
    const make = (m: PeftModel) => TrainSession.create(stepGraphSpec(m, cfg, runInputs, runtime.fetchGrads ?? []), opts);
    return new Stepper(pm, await make(pm), runtime, make);
  }

  /** Optimizer steps taken. */
  get steps(): number {
    return this.session.steps;
  }

  private async rerun(): Promise<TrainSession> {
    this.rerunSession ??= await this.makeSession(withConfig(this.pm, this.runtime.rerun!.config as PeftConfig));
    return this.rerunSession;
  }

  /**
   * One optimizer step; reruns it from the same state when the method asks. The state before the step
   * is kept as a snapshot (no copy, on the device where the state lives) only for methods that can rerun.
   */
  async step(feeds: Record<string, Feed>, lr: number): Promise<StepResult> {
    const before = this.runtime.rerun ? this.session.snapshot() : null;
    try {
      const r = await this.session.step(feeds, lr);
      if (!before || !this.runtime.rerun!.needed(r.outputs)) return r;
      const ex = await this.rerun();
      ex.restore(before);
      const r2 = await ex.step(feeds, lr);
      this.adoptFrom(ex);
      return r2;
    } finally {
      before?.release();
    }
  }

  /** Takes `ex`'s state as the session's own (tensors shared, not copied). */
  private adoptFrom(ex: TrainSession): void {
    const after = ex.snapshot();
    this.session.restore(after);
    after.release();
  }

  /** Eval-graph logits with the session's current values (rerun as `step` does). */
  async evalLogits(feeds: Record<string, Feed>): Promise<Float32Array> {
    const r = await this.session.evaluate(feeds);
    if (!this.runtime.rerun?.needed(r.outputs)) return r.logits;
    const ex = await this.rerun();
    const live = this.session.snapshot();
    ex.restore(live);
    live.release();
    return (await ex.evaluate(feeds)).logits;
  }

  /** The trained tensors by name (no optimizer state), read back where they live on a GPU; on the CPU the session's own arrays, read-only. */
  async trained(): Promise<Record<string, Float32Array>> {
    return (await this.session.exportState({ optimizer: false })).tensors;
  }

  /**
   * Runs `fn` with the session's trained tensors replaced by `values` (an EMA), then restores the
   * live state exactly.
   */
  async withValues<T>(values: Readonly<Record<string, Float32Array>>, fn: () => Promise<T>): Promise<T> {
    const live = this.session.snapshot();
    this.session.setValues(values);
    try {
      return await fn();
    } finally {
      this.session.restore(live);
      live.release();
    }
  }

  /** A model with `values` (the live trained values: `await stepper.trained()`) and the method's run state stored in. */
  view(values: Readonly<Record<string, Float32Array>>): PeftModel {
    const pm = this.pm;
    const ps = new ParameterStore();
    for (const p of pm.params.list()) {
      if (values[p.name] || !p.quantized) ps.add(p.name, p.shape, values[p.name] ?? p.data, { trainable: p.trainable, decay: p.decay });
      else ps.addFrom(p);
    }
    this.runtime.storeInto?.(ps);
    return new PeftModel(pm.cfg, ps, pm.config, pm.method, pm.sites, pm.baseNames, pm.addedNames, pm.baseName);
  }

  async release(): Promise<void> {
    await this.session.release();
    await this.rerunSession?.release();
  }
}
