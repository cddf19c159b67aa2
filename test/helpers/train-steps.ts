/**
 * @file A few optimizer steps of a PeftModel on one fixed batch, feeding every per-step input its graph
 * declares (a fresh int32 seed per step, SNELLA's sparsity fixed at 0.5): the "does it train" check
 * the backbone tests share.
 */
import type { GraphBuilder } from "../../src/ir/builder.js";
import { crossEntropy } from "../../src/ir/losses.js";
import type { PeftModel } from "../../src/peft/apply.js";
import type { Device } from "../../src/runtime/device.js";
import { TrainSession } from "../../src/train/step-session.js";

export interface TrainStepsOptions {
  /** Learning rate of every step (default 3e-3). */
  lr?: number;
  /** Where the session runs (default cpu). */
  device?: Device;
  /** The value fed to every seed input at step i (0-based; default i + 1). */
  seedOf?: (i: number) => number;
}

/** Runs `n` AdamW steps (stochastic depth 0.1) on `images` / `labels`; the trained values land in `pm.params`. */
export async function trainSteps(pm: PeftModel, images: Float32Array, labels: BigInt64Array, n = 4, o: TrainStepsOptions = {}): Promise<{ losses: number[]; g: GraphBuilder }> {
  const B = labels.length, { inChans, imgSize } = pm.cfg;
  let graph: GraphBuilder | undefined;
  const session = await TrainSession.create({
    params: pm.params,
    build(g, bind, train) {
      graph = g;
      const x = g.input("images", [B, inChans, imgSize, imgSize]);
      const y = g.input("labels", [B], "int64");
      const logits = pm.forward(g, bind, x, { train, stochasticDepth: 0.1 });
      return { logits, loss: crossEntropy(g, logits, y) };
    },
    optimizer: { kind: "adamw", weightDecay: 0.01 },
  }, { intraOpThreads: 1, ...(o.device ? { device: o.device } : {}) });
  const losses: number[] = [];
  for (let i = 0; i < n; i++) {
    // Every per-step seed the graph declares (stochastic depth, the method's masks) gets a fresh value;
    // SNELLA's per-matrix sparsity (its allocator's feed) is fixed.
    const seeds = Object.fromEntries(graph!.inputs.filter((v) => v.dtype === "int32" && v.rank === 0).map((v) => [v.name, Int32Array.of(o.seedOf?.(i) ?? i + 1)]));
    const sparsity = Object.fromEntries(graph!.inputs.filter((v) => v.name.endsWith("snella_sparsity")).map((v) => [v.name, Float32Array.of(0.5)]));
    losses.push((await session.step({ images, labels, ...seeds, ...sparsity }, o.lr ?? 3e-3)).loss);
  }
  await session.syncParams();
  await session.release();
  return { losses, g: graph! };
}
