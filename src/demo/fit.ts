/**
 * @file A compact fine-tuning loop over in-memory tensors (the demo's MNIST tasks): AdamW with the
 * authors' cosine schedule, per-step seeds for dropout-style run inputs, top-1 on a test set per epoch.
 */
import { ConfigError } from "../errors.js";
import { crossEntropy } from "../ir/losses.js";
import type { GraphBuilder } from "../ir/builder.js";
import type { ParamBinder, ParameterStore } from "../ir/parameters.js";
import type { Value } from "../ir/value.js";
import type { AdaptContext } from "../peft/method.js";
import { graphRunInput } from "../peft/apply.js";
import { Rng } from "../random.js";
import { peakRssMiB } from "../runtime/memory.js";
import { createLrSchedule } from "../train/schedule.js";
import { TrainSession } from "../train/step-session.js";
import { gatherBatch, type TensorSet } from "./mnist-tasks.js";

/** Builds logits for images; `runInput` declares per-step inputs (seeds) the loop feeds. */
export type ForwardFn = (g: GraphBuilder, bind: ParamBinder, images: Value, opts: { train: boolean; runInput: AdaptContext["runInput"] }) => Value;

export interface FitOptions {
  params: ParameterStore;
  forward: ForwardFn;
  classes: number;
  train: TensorSet;
  test: TensorSet;
  epochs: number;
  batch: number;
  lr: number;
  weightDecay: number;
  warmupEpochs?: number;
  labelSmoothing?: number;
  seed?: number;
  /** Called after each epoch. */
  onEpoch?: (e: EpochStats) => void;
}

export interface EpochStats {
  epoch: number;
  lr: number;
  loss: number;
  top1: number;
  seconds: number;
}

export interface FitResult {
  history: EpochStats[];
  /** Top-1 after the last epoch. */
  last: number;
  /** Highest top-1 over the epochs (what the SNELL authors report). */
  best: number;
  secondsPerStep: number;
  peakRssMiB: number;
  seconds: number;
}

const imageShape = (set: TensorSet, batch: number) => [batch, 1, 28, 28];

/** Trains the trainable parameters of `params`; evaluates top-1 on `test` after every epoch. */
export async function fit(o: FitOptions): Promise<FitResult> {
  if (o.train.count < o.batch) throw new ConfigError(`fit: ${o.train.count} training images is fewer than one batch of ${o.batch}`);
  const t0 = performance.now();
  const seedInputs = new Set<string>();
  const session = await TrainSession.create({
    params: o.params,
    optimizer: { kind: "adamw", weightDecay: o.weightDecay },
    build: (g, bind, train) => {
      const images = g.input("images", imageShape(o.train, o.batch));
      const labels = g.input("labels", [o.batch], "int64");
      const declare = graphRunInput(g);
      const runInput: AdaptContext["runInput"] = (name, shape, dtype) => {
        if (dtype !== "int64" || !name.endsWith("_seed")) {
          throw new ConfigError(`fit: run input "${name}" is not a per-step seed; this loop feeds only int64 "*_seed" inputs`);
        }
        seedInputs.add(name);
        return declare(name, shape, dtype);
      };
      const logits = o.forward(g, bind, images, { train, runInput });
      return { logits, loss: train ? crossEntropy(g, logits, labels, { labelSmoothing: o.labelSmoothing ?? 0 }) : undefined };
    },
  });
  const stepsPerEpoch = Math.floor(o.train.count / o.batch);
  const schedule = createLrSchedule({
    baseLr: o.lr, epochs: o.epochs, warmupEpochs: o.warmupEpochs ?? 1, warmupLr: 1e-6, minLr: 1e-5, update: "step", stepsPerEpoch,
  });
  const rng = new Rng(o.seed ?? 0);
  const history: EpochStats[] = [];
  for (let e = 0; e < o.epochs; e++) {
    const te = performance.now();
    const order = Array.from({ length: o.train.count }, (_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let sum = 0, lr = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const b = gatherBatch(o.train, order, s * o.batch, o.batch);
      const feeds: Record<string, Float32Array | BigInt64Array> = { images: b.images, labels: b.labels };
      for (const name of seedInputs) feeds[name] = new BigInt64Array([BigInt(rng.int(2 ** 31))]);
      lr = schedule.lrAt(e, s);
      sum += (await session.step(feeds, lr)).loss;
    }
    const top1 = await accuracyOf(session, o.test, o.batch, o.classes, seedInputs);
    const stats = { epoch: e + 1, lr, loss: sum / stepsPerEpoch, top1, seconds: (performance.now() - te) / 1000 };
    history.push(stats);
    o.onEpoch?.(stats);
  }
  const steps = session.stats.stepSeconds.slice().sort((a, b) => a - b);
  session.syncParams();
  await session.release();
  return {
    history,
    last: history[history.length - 1]!.top1,
    best: Math.max(...history.map((h) => h.top1)),
    secondsPerStep: steps[steps.length >> 1] ?? 0,
    peakRssMiB: peakRssMiB(),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Top-1 accuracy (percent) of the session's eval graph on a tensor set. */
export async function accuracyOf(session: TrainSession, set: TensorSet, batch: number, classes: number, seedInputs: ReadonlySet<string> = new Set()): Promise<number> {
  let correct = 0;
  const order = Array.from({ length: set.count }, (_, i) => i);
  for (let from = 0; from < set.count; from += batch) {
    const b = gatherBatch(set, order, from, batch);
    const feeds: Record<string, Float32Array | BigInt64Array> = { images: b.images, labels: b.labels };
    for (const name of seedInputs) feeds[name] = new BigInt64Array([0n]);
    const { logits } = await session.evaluate(feeds);
    for (let k = 0; k < b.count; k++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[k * classes + c]! > logits[k * classes + best]!) best = c;
      if (BigInt(best) === b.labels[k]) correct++;
    }
  }
  return (100 * correct) / set.count;
}
