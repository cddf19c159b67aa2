/** @file Model EMA: bit for bit against the authors' ModelEma in PyTorch, and in the trainer (evaluated, saved, resumed exactly). */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";
import { loadTrainingCheckpoint } from "../../src/train/checkpoint.js";
import { ModelEma } from "../../src/train/model-ema.js";
import { RUN_FILES, train, type TrainOptions } from "../../src/train/trainer.js";
import { tempDir } from "../helpers/images.js";

interface EmaCase { decay: number; initial: Record<string, number[]>; values: Record<string, number[]>[]; expected: Record<string, number[]>[] }
const FIXTURE = JSON.parse(fs.readFileSync(new URL("../fixtures/model-ema.json", import.meta.url), "utf8")) as { cases: EmaCase[] };

describe("ModelEma against the authors' ModelEma (scripts/torch/make_model_ema_fixture.py)", () => {
  for (const c of FIXTURE.cases) {
    test(`decay ${c.decay}: every step bit for bit in float32`, () => {
      const f32 = (o: Record<string, number[]>) => Object.fromEntries(Object.entries(o).map(([n, v]) => [n, Float32Array.from(v)]));
      const ema = new ModelEma(c.decay, f32(c.initial));
      c.values.forEach((v, i) => {
        const cur = f32(v);
        ema.update((n) => cur[n]!);
        for (const [n, want] of Object.entries(f32(c.expected[i]!))) assert.deepEqual(ema.values.get(n), want, `step ${i}, ${n}`);
      });
    });
  }
  test("a decay outside (0, 1) is refused", () => {
    assert.throws(() => new ModelEma(1, {}), /decay must be in \(0, 1\)/);
  });
});

const TINY: VitConfig = { imgSize: 8, patchSize: 4, inChans: 1, numClasses: 3, embedDim: 8, depth: 1, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };

function data(n: number, seed: number) {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const images = Float32Array.from({ length: n * 64 }, (_, i) => rng.uniform() - 0.5 + 0.4 * labels[Math.floor(i / 64)]!);
  return { images, labels, count: n };
}

function options(config: TrainOptions["config"], outDir?: string): TrainOptions {
  const model = applyAdapters({ cfg: TINY, params: createVitParams(TINY, new Rng(1)), name: "vit_ema_test" }, { method: "lora", rank: 2 }, { seed: 2 });
  return { model, train: data(12, 3), eval: data(9, 4), config: { batchSize: 4, lr: 1e-2, warmupEpochs: 0, ...config }, ...(outDir ? { outDir } : {}) };
}

let tmp: ReturnType<typeof tempDir>;
before(() => { tmp = tempDir("snell-ema-"); });
after(() => tmp.remove());

describe("train() with a model EMA", () => {
  test("evaluates live and EMA, reports the better, saves adapter-ema, and resumes mid-epoch to the same EMA", async () => {
    const cfg = { epochs: 3, modelEma: 0.5 };
    const straightDir = join(tmp.dir, "straight");
    const r = await train(options(cfg, straightDir));
    for (const h of r.history) assert.equal(typeof h.emaTop1, "number");
    assert.ok(r.ema?.best && r.best && r.reported);
    assert.equal(r.reported.top1, Math.max(r.best.top1, r.ema.best.top1));
    assert.equal(r.reported.source, r.ema.best.top1 > r.best.top1 ? "ema" : "live");
    const emaFile = join(straightDir, RUN_FILES.emaAdapter, "adapter_model.safetensors");
    assert.ok(fs.existsSync(emaFile));
    // The EMA differs from the live values it averages.
    assert.notDeepEqual(fs.readFileSync(emaFile), fs.readFileSync(join(straightDir, RUN_FILES.adapter, "adapter_model.safetensors")));

    const out = join(tmp.dir, "resumed");
    const ac = new AbortController();
    let steps = 0;
    const first = await train({ ...options(cfg, out), signal: ac.signal, progress: { stream: { write: () => { if (++steps === 4) ac.abort(); return true; } } as never, tty: false, intervalMs: 0 } });
    assert.equal(first.interrupted, true);
    const ck = loadTrainingCheckpoint(join(out, RUN_FILES.checkpoint));
    assert.ok([...ck.optimizer.keys()].some((n) => n.endsWith("/ema")), "the checkpoint holds the EMA");
    await train({ ...options(cfg, out), resume: true });
    assert.deepEqual(fs.readFileSync(join(out, RUN_FILES.emaAdapter, "adapter_model.safetensors")), fs.readFileSync(emaFile));
  });

  test("decay 0.9999 over a few steps keeps the EMA at the initial model (as the authors' FGVC runs start)", async () => {
    const r = await train(options({ epochs: 1, modelEma: 0.9999 }));
    const live = await train(options({ epochs: 1, lr: 0 }));
    // lr 0 leaves the live model at its initial values: its accuracy is what an EMA stuck at the start gives.
    assert.ok(Math.abs(r.ema!.last!.top1 - live.last!.top1) < 1e-9, `${r.ema!.last!.top1} vs ${live.last!.top1}`);
  });
});
