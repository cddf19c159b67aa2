/** @file The training loop as a library: exact resume, masked padding, NaN stop, last/best accuracy, SNELLA feeds. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { transformSample } from "../../src/data/decode.js";
import { readVtab } from "../../src/data/vtab.js";
import { makeTransform } from "../../src/data/transforms.js";
import { RuntimeError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder } from "../../src/ir/parameters.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";
import { loadTrainingCheckpoint } from "../../src/train/checkpoint.js";
import { readRunLog } from "../../src/train/run-log.js";
import { RUN_FILES, train, type TrainOptions } from "../../src/train/trainer.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

const TINY: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 3, embedDim: 16, depth: 2, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };

let tmp: ReturnType<typeof tempDir>;
let data: string;
before(async () => {
  tmp = tempDir("snell-trainer-");
  data = join(tmp.dir, "task");
  await writeVtabTask(data, { numClasses: 3, perClass: 3 });
});
after(() => tmp.remove());

function model(peft: Record<string, unknown>) {
  return applyAdapters({ cfg: TINY, params: createVitParams(TINY, new Rng(1)), name: "vit_tiny_test" }, peft, { seed: 2 });
}

function options(peft: Record<string, unknown>, config: TrainOptions["config"], outDir?: string, split: "train800" | "train800val200" = "train800val200"): TrainOptions {
  const trainSet = readVtab(data, split);
  return {
    model: model(peft), train: trainSet, eval: readVtab(data, "test", { numClasses: trainSet.numClasses }),
    transforms: { train: makeTransform("snell-vtab", { train: true, size: 16 }), eval: makeTransform("snell-vtab", { train: false, size: 16 }) },
    config: { batchSize: 4, lr: 5e-3, weightDecay: 1e-4, warmupEpochs: 1, warmupLr: 1e-3, ...config },
    ...(outDir ? { outDir } : {}),
  };
}

const SNELL = { method: "snell", rank: 4, sparsity: 0.5, dropout: 0.1 };

/** Options that abort a run after `n` optimizer steps, from inside the step loop (the progress callback runs after every step). */
function abortAfterSteps(n: number): Pick<TrainOptions, "signal" | "progress"> {
  const ac = new AbortController();
  let steps = 0;
  return { signal: ac.signal, progress: { stream: { write: () => { if (++steps === n) ac.abort(); return true; } } as never, tty: false, intervalMs: 0 } };
}

function trainedTensors(o: TrainOptions): Map<string, Float32Array> {
  return new Map(o.model.savedNames().map((n) => [n, o.model.params.get(n).data]));
}

describe("train()", () => {
  test("one epoch, an abort, and a resume give the same parameters bit for bit as two straight epochs", async () => {
    const straight = options(SNELL, { epochs: 2 }, join(tmp.dir, "straight"));
    const r1 = await train(straight);
    assert.equal(r1.interrupted, false);
    assert.equal(r1.history.length, 2);

    const ac = new AbortController();
    const out = join(tmp.dir, "resumed");
    const first = options(SNELL, { epochs: 2 }, out);
    const r2 = await train({ ...first, signal: ac.signal, onEpoch: () => ac.abort() });
    assert.equal(r2.interrupted, true);
    assert.equal(r2.epochsDone, 1);
    assert.equal(loadTrainingCheckpoint(join(out, RUN_FILES.checkpoint)).epoch, 1);
    const second = options(SNELL, { epochs: 2 }, out);
    const r3 = await train({ ...second, resume: true });
    assert.equal(r3.steps, r1.steps);
    const a = trainedTensors(straight), b = trainedTensors(second);
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [n, x] of a) assert.deepEqual(b.get(n), x, `tensor ${n} differs after resume`);
    assert.deepEqual(r3.history.map((h) => h.loss), r1.history.map((h) => h.loss));
    assert.equal(readRunLog(join(out, RUN_FILES.log)).length, 2);
    assert.ok(fs.existsSync(join(out, RUN_FILES.adapter, "adapter_model.safetensors")));
  });

  test("an abort in the middle of an epoch resumes at the next step and still matches", async () => {
    const cfg = { epochs: 2, batchSize: 2 };
    const straight = options(SNELL, cfg);
    await train(straight);
    const out = join(tmp.dir, "mid");
    const o1 = options(SNELL, cfg, out);
    const r1 = await train({ ...o1, ...abortAfterSteps(3) });
    assert.equal(r1.interrupted, true);
    const ck = loadTrainingCheckpoint(join(out, RUN_FILES.checkpoint));
    assert.equal(ck.epoch, 0);
    assert.equal(ck.step, 3);
    const o2 = options(SNELL, cfg, out);
    await train({ ...o2, resume: true });
    for (const [n, x] of trainedTensors(straight)) assert.deepEqual(o2.model.params.get(n).data, x, n);
  });

  test("padding rows of a short batch change neither the loss nor the update", async () => {
    // train800 holds 9 images: batch 9 has no padding; batch 12 pads 3 zero rows with label 0.
    const peft = { method: "lora", rank: 2 };
    const a = options(peft, { epochs: 1, batchSize: 9, evalBatchSize: 6 }, undefined, "train800");
    const b = options(peft, { epochs: 1, batchSize: 12, evalBatchSize: 6 }, undefined, "train800");
    const ra = await train(a), rb = await train(b);
    assert.ok(Math.abs(ra.history[0]!.loss - rb.history[0]!.loss) < 1e-5, `${ra.history[0]!.loss} vs ${rb.history[0]!.loss}`);
    for (const [n, x] of trainedTensors(a)) {
      const y = b.model.params.get(n).data;
      let d = 0;
      for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i]! - y[i]!));
      assert.ok(d < 1e-5, `${n}: max difference ${d}`);
    }
    assert.equal(ra.history[0]!.top1, rb.history[0]!.top1);
  });

  test("a NaN or infinite loss stops with a clear error and keeps the last good checkpoint", async () => {
    const out = join(tmp.dir, "nan");
    // Epochs 1-2 run at the warm-up lr; epoch 3 jumps to ~1e30 and diverges.
    const o = options({ method: "lora", rank: 2 }, { epochs: 3, lr: 1e30, warmupEpochs: 1, warmupLr: 1e-3 }, out);
    await assert.rejects(train(o), (e: Error) => e instanceof RuntimeError && /training loss is (NaN|Infinity|-Infinity) in epoch 3/.test(e.message));
    const ck = loadTrainingCheckpoint(join(out, RUN_FILES.checkpoint));
    assert.equal(ck.epoch, 2);
    for (const t of ck.params.values()) assert.ok(t.data.every(Number.isFinite));
    assert.equal(readRunLog(join(out, RUN_FILES.log)).length, 2);
  });

  test("reports the last and the best evaluation and evaluates on the authors' schedule", async () => {
    const r = await train(options({ method: "linear" }, { epochs: 3, evalEvery: 2 }));
    assert.deepEqual(r.history.map((h) => h.top1 === null), [true, false, false]);
    assert.equal(r.last!.epoch, 2);
    assert.ok(r.best!.top1 >= r.last!.top1);
    assert.match(r.summary, /last: top-1 .* best: top-1/);
    for (const h of r.history) {
      for (const k of ["lr", "loss", "seconds", "peakRssMiB", "stepSeconds", "decodeImagesPerSecond"]) assert.equal(typeof h[k], "number", k);
    }
  });

  test("tensors in memory train exactly like the same images decoded from files", async () => {
    const files = options({ method: "lora", rank: 2, dropout: 0.1 }, { epochs: 2 });
    const ds = readVtab(data, "train800val200");
    const per = 3 * 16 * 16;
    const images = new Float32Array(ds.length * per);
    for (let i = 0; i < ds.length; i++) {
      images.set(await transformSample(ds.item(i).source, files.transforms!.eval, { seed: 0, epoch: 0, index: i }), i * per);
    }
    const labels = Array.from({ length: ds.length }, (_, i) => ds.item(i).label);
    const tensors: TrainOptions = { ...options({ method: "lora", rank: 2, dropout: 0.1 }, { epochs: 2 }), train: { images, labels, count: ds.length } };
    delete tensors.eval;
    await train(files);
    await train(tensors);
    for (const [n, x] of trainedTensors(files)) assert.deepEqual(tensors.model.params.get(n).data, x, n);
  });

  test("merged and graph evaluation agree", async () => {
    const a = await train(options(SNELL, { epochs: 2, evalMode: "merged" }));
    const b = await train(options(SNELL, { epochs: 2, evalMode: "graph" }));
    assert.deepEqual(a.history.map((h) => [h.top1, h.top5]), b.history.map((h) => [h.top1, h.top5]));
  });

  test("SNELLA gets its per-matrix sparsity fed every step and saves it with the adapter", async () => {
    const o = options({ method: "snella", rank: 4, sparsity: 0.5, allocator: { initSparsity: 0.3, initWarmup: 1, finalWarmup: 1, maskInterval: 1, beta1: 0.85, beta2: 0.85, unit: "step" } }, { epochs: 2 });
    const r = await train(o);
    assert.equal(r.history.length, 2);
    const s = o.model.params.list().filter((p) => p.name.endsWith(".snella_s")).map((p) => p.data[0]!);
    assert.ok(s.length > 0 && s.some((v) => Math.abs(v - 0.3) > 1e-6), `sparsities ${s.join(", ")}`);
  });

  test("backbone stochastic depth: seeded (two runs agree), active in training only (changes the update, not the eval graph)", async () => {
    const cfg = { epochs: 1, stochasticDepth: 0.5 };
    const a = options(SNELL, cfg), b = options(SNELL, cfg), off = options(SNELL, { ...cfg, stochasticDepth: 0 });
    const ra = await train(a), rb = await train(b), roff = await train(off);
    for (const [n, x] of trainedTensors(a)) assert.deepEqual(b.model.params.get(n).data, x, n);
    assert.deepEqual(ra.history.map((h) => h.loss), rb.history.map((h) => h.loss));
    assert.notEqual(ra.history[0]!.loss, roff.history[0]!.loss, "dropping residual branches changes the training loss");
    await assert.rejects(train(options(SNELL, { epochs: 1, stochasticDepth: 1 })), /train\.stochasticDepth must be a number in \[0, 0\.999\]/);
    const dropNodes = (isTrain: boolean) => {
      const g = new GraphBuilder();
      a.model.forward(g, new ParamBinder(g, a.model.params), g.input("images", [2, 3, 16, 16]), { train: isTrain, stochasticDepth: 0.5 });
      return g.nodes.filter((n) => n.name.includes("blocks.1.drop_path")).length;
    };
    assert.ok(dropNodes(true) > 0);
    assert.equal(dropNodes(false), 0);
  });

  test("SNELLA resumed mid-run reallocates as the uninterrupted run (allocator state in the checkpoint)", async () => {
    const peft = { method: "snella", rank: 4, sparsity: 0.5, allocator: { initSparsity: 0.3, initWarmup: 1, finalWarmup: 1, maskInterval: 1, beta1: 0.85, beta2: 0.85, unit: "step" } };
    const cfg = { epochs: 2, batchSize: 2 };
    const straight = options(peft, cfg);
    await train(straight);
    const out = join(tmp.dir, "snella-mid");
    const o1 = options(peft, cfg, out);
    await train({ ...o1, ...abortAfterSteps(4) });
    assert.equal(loadTrainingCheckpoint(join(out, RUN_FILES.checkpoint)).step, 4);
    const o2 = options(peft, cfg, out);
    await train({ ...o2, resume: true });
    // Without the EMA statistics restored, the reallocations after the resume would differ.
    for (const [n, x] of trainedTensors(straight)) assert.deepEqual(o2.model.params.get(n).data, x, n);
  });
});
