/**
 * @file Pre-trains the demo ViT on the upstream task (MNIST digits 0-4) and writes it as a timm-layout
 * safetensors file. The shipped demo/pretrained-vit-mnist04.safetensors was made by
 * `npx snell demo --pretrain` (seed 0); the demo only reads it.
 */
import { writeSafetensors } from "../checkpoint/safetensors.js";
import { crossEntropy } from "../ir/losses.js";
import { createVitParams, vitForward } from "../models/vit.js";
import { Rng } from "../random.js";
import { createLrSchedule } from "../train/schedule.js";
import { TrainSession } from "../train/step-session.js";
import { DEMO_VIT, gatherBatch, upstreamTask, type TensorSet } from "./mnist-tasks.js";

export interface PretrainOptions {
  epochs?: number;
  batch?: number;
  lr?: number;
  seed?: number;
  log?: (line: string) => void;
}

/** Top-1 accuracy of a session's eval graph on a tensor set. */
export async function accuracy(session: TrainSession, set: TensorSet, batch: number, classes: number): Promise<number> {
  let correct = 0;
  const order = Array.from({ length: set.count }, (_, i) => i);
  for (let from = 0; from < set.count; from += batch) {
    const b = gatherBatch(set, order, from, batch);
    const { logits } = await session.evaluate({ images: b.images, labels: b.labels });
    for (let k = 0; k < b.count; k++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[k * classes + c]! > logits[k * classes + best]!) best = c;
      if (BigInt(best) === b.labels[k]) correct++;
    }
  }
  return correct / set.count;
}

/** Trains every weight of the demo ViT on digits 0-4 and writes it to `out`; returns test accuracy. */
export async function pretrainDemoVit(out: string, opts: PretrainOptions = {}): Promise<number> {
  const { epochs = 3, batch = 128, lr = 1e-3, seed = 0, log = console.log } = opts;
  const { train, test } = upstreamTask();
  const params = createVitParams(DEMO_VIT, new Rng(seed));
  for (const p of params.list()) p.trainable = true;
  const session = await TrainSession.create({
    params,
    optimizer: { kind: "adamw", weightDecay: 0.05 },
    build: (g, bind, isTrain) => {
      const images = g.input("images", [batch, 1, 28, 28]);
      const labels = g.input("labels", [batch], "int64");
      const logits = vitForward(g, bind, DEMO_VIT, images);
      return { logits, loss: isTrain ? crossEntropy(g, logits, labels) : undefined };
    },
  });
  const rng = new Rng(seed + 1);
  const stepsPerEpoch = Math.floor(train.count / batch);
  const schedule = createLrSchedule({ baseLr: lr, epochs, warmupEpochs: 1, warmupLr: 1e-5, minLr: 1e-5, update: "step", stepsPerEpoch });
  for (let e = 0; e < epochs; e++) {
    const order = Array.from({ length: train.count }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let sum = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const b = gatherBatch(train, order, s * batch, batch);
      const r = await session.step({ images: b.images, labels: b.labels }, schedule.lrAt(e, s));
      sum += r.loss;
    }
    log(`pretrain epoch ${e + 1}/${epochs}: loss ${(sum / stepsPerEpoch).toFixed(4)}`);
  }
  const acc = await accuracy(session, test, batch, DEMO_VIT.numClasses);
  log(`pretrain: digits 0-4 test accuracy ${(100 * acc).toFixed(2)}%`);
  session.syncParams();
  writeSafetensors(out, Object.fromEntries(params.list().map((p) => [p.name, { shape: p.shape, data: p.data }])), {
    format: "pt", model: "demo-vit-mnist04", seed: String(seed), test_accuracy: acc.toFixed(4),
  });
  await session.release();
  return acc;
}
