/**
 * @file Engine self-check for humans: trains a small MLP on synthetic clusters through the step graph
 * (forward + autodiff + AdamW in one ONNX graph) and prints the loss, seconds per step and peak RSS.
 * Exits non-zero when the loss does not fall or held-out accuracy stays near chance.
 */
import { availableParallelism } from "node:os";
import type { GraphBuilder } from "./ir/builder.js";
import { ParameterStore, type ParamBinder } from "./ir/parameters.js";
import type { Value } from "./ir/value.js";
import { kaimingUniform, Rng } from "./random.js";
import { TrainSession } from "./train/step-session.js";

const BATCH = 256, DIM = 64, HIDDEN = 256, CLASSES = 8, STEPS = 50, LR = 3e-3;

/** Points around one random centre per class; the label is the centre's index. */
function clusters(rng: Rng, centres: Float32Array[], n: number) {
  const x = new Float32Array(n * DIM);
  const labels = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(CLASSES);
    labels[i] = BigInt(c);
    for (let j = 0; j < DIM; j++) x[i * DIM + j] = centres[c]![j]! + rng.normal();
  }
  return { x, labels };
}

/** Mean softmax cross-entropy. */
function crossEntropy(g: GraphBuilder, logits: Value, labels: Value): Value {
  const onehot = g.OneHot(labels, CLASSES, g.constant([0, 1]));
  return g.Neg(g.ReduceMean(g.ReduceSum(g.Mul(onehot, g.LogSoftmax(logits, -1)), [1], 0), [0], 0));
}

function build(g: GraphBuilder, b: ParamBinder) {
  const x = g.input("x", [BATCH, DIM]);
  const labels = g.input("labels", [BATCH], "int64");
  const h = g.gelu(g.linear(x, b.get("fc1.weight"), b.get("fc1.bias")));
  const logits = g.linear(h, b.get("fc2.weight"), b.get("fc2.bias"));
  return { logits, loss: crossEntropy(g, logits, labels) };
}

function accuracy(logits: Float32Array, labels: BigInt64Array): number {
  let hit = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * CLASSES, (i + 1) * CLASSES);
    if (row.indexOf(Math.max(...row)) === Number(labels[i])) hit++;
  }
  return hit / labels.length;
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<number> {
  const rng = new Rng(7);
  const params = new ParameterStore();
  params.add("fc1.weight", [DIM, HIDDEN], kaimingUniform(rng, DIM * HIDDEN, DIM), { trainable: true });
  params.add("fc1.bias", [HIDDEN], kaimingUniform(rng, HIDDEN, DIM), { trainable: true });
  params.add("fc2.weight", [HIDDEN, CLASSES], kaimingUniform(rng, HIDDEN * CLASSES, HIDDEN), { trainable: true });
  params.add("fc2.bias", [CLASSES], kaimingUniform(rng, CLASSES, HIDDEN), { trainable: true });
  const centres = Array.from({ length: CLASSES }, () => Float32Array.from({ length: DIM }, () => 0.4 * rng.normal()));

  console.log(`snell-ts engine self-check: MLP ${DIM}-${HIDDEN}-${CLASSES}, batch ${BATCH}, AdamW (wd 0.05 on 2-D weights), ${STEPS} steps, ${availableParallelism()} threads`);
  const t0 = performance.now();
  const session = await TrainSession.create({ params, build, optimizer: { kind: "adamw", weightDecay: 0.05 } });
  console.log(`compiled the step graph in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

  const losses: number[] = [];
  for (let t = 0; t < STEPS; t++) {
    const { loss } = await session.step(clusters(rng, centres, BATCH), LR);
    losses.push(loss);
    if (t % 10 === 0 || t === STEPS - 1) console.log(`step ${String(t + 1).padStart(3)}  loss ${loss.toFixed(4)}`);
  }
  const test = clusters(rng, centres, BATCH);
  const acc = accuracy((await session.evaluate(test)).logits, test.labels);
  const secs = session.stats.stepSeconds;
  console.log(`held-out accuracy ${(100 * acc).toFixed(1)}% (chance ${(100 / CLASSES).toFixed(1)}%)`);
  console.log(`seconds/step: median ${median(secs.slice(1)).toFixed(4)} (first ${secs[0]!.toFixed(4)})`);
  console.log(`peak RSS: ${session.stats.peakRssMiB().toFixed(0)} MiB`);
  await session.release();

  const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5, last = losses.slice(-5).reduce((a, b) => a + b) / 5;
  const ok = last < 0.7 * first && acc > 2 / CLASSES;
  console.log(ok ? `OK: loss ${first.toFixed(3)} -> ${last.toFixed(3)}` : `FAILED: loss ${first.toFixed(3)} -> ${last.toFixed(3)}, accuracy ${acc}`);
  return ok ? 0 : 1;
}

process.exitCode = await main();
