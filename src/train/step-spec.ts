/**
 * @file The training step graph of a run: the model's forward with its run inputs, the masked mean
 * cross-entropy over the real rows of a padded batch, and what the method's graph reports.
 */
import type { GraphBuilder } from "../ir/builder.js";
import { crossEntropy } from "../ir/losses.js";
import type { ParamBinder } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import type { PeftModel } from "../peft/apply.js";
import { methodOutputs, type RunInputs } from "./run-inputs.js";
import type { StepGraphSpec } from "./step-session.js";
import type { TrainerConfig } from "./trainer-config.js";

/** The image shape [C, H, W] a model takes. */
export const imageShape = (pm: PeftModel): [number, number, number] => [pm.cfg.inChans, pm.cfg.imgSize, pm.cfg.imgSize];

/**
 * The step (and eval) graph of `model`: inputs images [B, C, H, W], labels [B] (int64) and
 * weights [B] (1 for real rows, 0 for padding); the loss is the mean over real rows only.
 */
export function stepGraphSpec(model: PeftModel, cfg: TrainerConfig, runInputs: RunInputs, fetchGrads: readonly string[] = []): StepGraphSpec {
  const shape = imageShape(model);
  const evalB = cfg.evalBatchSize ?? 2 * cfg.batchSize;
  return {
    params: model.params,
    optimizer: { kind: "adamw", weightDecay: cfg.weightDecay, betas: cfg.betas, eps: cfg.eps },
    ...(fetchGrads.length ? { fetchGrads } : {}),
    ...(cfg.clipGrad !== null ? { clipGradNorm: cfg.clipGrad } : {}),
    build: (g: GraphBuilder, bind: ParamBinder, isTrain: boolean) => {
      const B = isTrain ? cfg.batchSize : evalB;
      const images = g.input("images", [B, ...shape]);
      const logits = model.forward(g, bind, images, { train: isTrain, runInput: runInputs.declarer(g), stochasticDepth: cfg.stochasticDepth });
      // The eval graph reports the method's outputs under their own names already (EvalResult.outputs).
      if (!isTrain) return { logits };
      const outputs = methodOutputs(g);
      const labels = g.input("labels", [B], "int64");
      const weights = g.input("weights", [B]);
      const perSample = crossEntropy(g, logits, labels, { labelSmoothing: cfg.labelSmoothing, reduction: "none" });
      const loss: Value = g.scope("masked_mean", () => g.Div(g.ReduceSum(g.Mul(perSample, weights), [0], 0), g.ReduceSum(weights, [0], 0)));
      return { loss, logits, outputs };
    },
  };
}
