/**
 * @file The benches' training step: a PeftModel's forward on an image batch, cross-entropy against
 * integer labels, AdamW (decay 0.01). Shared by bench/child.ts (onnxruntime-node) and bench/wasm-step.ts
 * (onnxruntime-web), so both time the same graph.
 */
import { crossEntropy } from "../src/ir/losses.js";
import type { PeftModel } from "../src/peft/apply.js";
import type { StepGraphSpec } from "../src/train/step-session.js";

export function classifierStep(pm: PeftModel, batch: number): StepGraphSpec {
  const { inChans, imgSize } = pm.cfg;
  return {
    params: pm.params,
    build(g, bind, train) {
      const images = g.input("images", [batch, inChans, imgSize, imgSize]);
      const labels = g.input("labels", [batch], "int64");
      const logits = pm.forward(g, bind, images, { train });
      return { logits, loss: crossEntropy(g, logits, labels) };
    },
    optimizer: { kind: "adamw", weightDecay: 0.01 },
  };
}
