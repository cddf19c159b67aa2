/**
 * @file Pre-trains the demo ViT on the upstream task (MNIST digits 0-4) and writes it as a timm-layout
 * safetensors file. The shipped demo/pretrained-vit-mnist04.safetensors was made by
 * `npx snell demo --pretrain` (seed 0, 3 epochs); the demo itself only reads it.
 */
import { writeSafetensors } from "../checkpoint/safetensors.js";
import { backboneOf } from "../models/registry.js";
import { applyAdapters } from "../peft/apply.js";
import { Rng } from "../random.js";
import { train } from "../train/trainer.js";
import { DEMO_SCHEDULE, DEMO_VIT, upstreamTask } from "./mnist-tasks.js";

export interface PretrainOptions {
  epochs?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  log?: (line: string) => void;
}

/** Trains every weight of the demo ViT on digits 0-4 and writes it to `out`; returns test top-1 (%). */
export async function pretrainDemoVit(out: string, opts: PretrainOptions = {}): Promise<number> {
  const { epochs = 3, batch = 128, lr = 1e-3, seed = 0, log = console.log } = opts;
  const { train: trainSet, test } = upstreamTask();
  // Training from scratch is full fine-tuning of a randomly initialised model.
  const model = applyAdapters({ cfg: DEMO_VIT, params: backboneOf(DEMO_VIT).createParams(DEMO_VIT, new Rng(seed)), name: "demo-vit" }, { method: "full" }, { seed });
  const r = await train({
    model, train: trainSet, eval: test,
    config: { ...DEMO_SCHEDULE, epochs, batchSize: batch, lr, weightDecay: 0.05, warmupEpochs: 0, seed: seed + 1 },
    onEpoch: (e) => log(`pretrain epoch ${e.epoch + 1}/${epochs}: loss ${e.loss.toFixed(4)}, digits 0-4 test top-1 ${e.top1!.toFixed(2)}%`),
  });
  const top1 = r.last!.top1;
  writeSafetensors(out, Object.fromEntries(model.baseNames.map((n) => {
    const p = model.params.get(n);
    return [n, { shape: p.shape, data: p.data }];
  })), { format: "pt", model: "demo-vit-mnist04", seed: String(seed), test_top1: top1.toFixed(2) });
  return top1;
}
