/**
 * @file Evaluation during a run: the live model or a set of trained values (the model EMA), merged
 * into the weights where the method allows (one compiled graph whose changing weights are fed) or
 * through the unmerged eval graph.
 */
import type { Device } from "../runtime/device.js";
import type { EvalSummary } from "./evaluate.js";
import { evaluateLoader, Evaluator } from "./evaluate.js";
import type { RunInputs } from "./run-inputs.js";
import type { Stepper } from "./stepper.js";
import type { BatchSource } from "./tensor-loader.js";
import type { TrainerConfig } from "./trainer-config.js";

export class RunEvaluation {
  private evaluator: Evaluator | null = null;

  constructor(
    private readonly stepper: Stepper,
    private readonly loader: BatchSource,
    private readonly cfg: TrainerConfig,
    private readonly runInputs: RunInputs,
    private readonly device: Device = "cpu",
  ) {}

  /** Top-1/top-5 on the evaluation set with `values` (default: the live trained values). */
  async evaluate(values?: Readonly<Record<string, Float32Array>>): Promise<EvalSummary> {
    const { stepper, loader } = this;
    const C = stepper.pm.cfg.numClasses;
    if (this.cfg.evalMode === "merged" && Evaluator.canMerge(stepper.pm)) {
      const view = stepper.view(values ?? await stepper.trained());
      if (this.evaluator) this.evaluator.update(view);
      else this.evaluator = await Evaluator.create(view, this.cfg.evalBatchSize ?? 2 * this.cfg.batchSize, { updatable: true, device: this.device });
      const ev = this.evaluator;
      return evaluateLoader((batch) => ev.logits(batch.images), loader, C);
    }
    const run = () => evaluateLoader((batch) => stepper.evalLogits({ images: batch.images, ...this.runInputs.feeds(stepper.steps) }), loader, C);
    return values ? stepper.withValues(values, run) : run();
  }

  async release(): Promise<void> {
    await this.evaluator?.release();
    this.evaluator = null;
  }
}
