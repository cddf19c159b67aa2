/**
 * @file Pre-trains the demo ViT on the upstream task (MNIST digits 0-4) and writes it as a timm-layout
 * safetensors file. The shipped demo/pretrained-vit-mnist04.safetensors was made by
 * `npx snell demo --pretrain` (seed 0, 3 epochs); the demo itself only reads it.
 */
import { writeSafetensors } from "../checkpoint/safetensors.js";
import { createVitParams, vitForward } from "../models/vit.js";
import { Rng } from "../random.js";
import { fit } from "./fit.js";
import { DEMO_VIT, upstreamTask } from "./mnist-tasks.js";

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
  const { train, test } = upstreamTask();
  const params = createVitParams(DEMO_VIT, new Rng(seed));
  for (const p of params.list()) p.trainable = true;
  const result = await fit({
    params, classes: DEMO_VIT.numClasses, train, test, epochs, batch, lr, weightDecay: 0.05, warmupEpochs: 0, seed: seed + 1,
    forward: (g, bind, images) => vitForward(g, bind, DEMO_VIT, images),
    onEpoch: (e) => log(`pretrain epoch ${e.epoch}/${epochs}: loss ${e.loss.toFixed(4)}, digits 0-4 test top-1 ${e.top1.toFixed(2)}%`),
  });
  writeSafetensors(out, Object.fromEntries(params.list().map((p) => [p.name, { shape: p.shape, data: p.data }])), {
    format: "pt", model: "demo-vit-mnist04", seed: String(seed), test_top1: result.last.toFixed(2),
  });
  return result.last;
}
