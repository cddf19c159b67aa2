/**
 * @file End to end through real files: one tiny ViT saved by numpy in Google's npz layout and by
 * torch.save as MAE / MoCo v3 checkpoints loads into the timm layout and reproduces PyTorch's outputs
 * (fixtures from scripts/torch/make_vit_fixture.py).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { readNpz } from "../../src/checkpoint/npz.js";
import { readPth } from "../../src/checkpoint/pth.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, type ParameterStore } from "../../src/ir/parameters.js";
import { checkpointFilter, detectCheckpointSource } from "../../src/models/checkpoint-filter.js";
import { loadPretrained } from "../../src/models/load.js";
import { createVitParams, vitForward, type VitConfig } from "../../src/models/vit.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

const file = (n: string) => new URL(`../fixtures/vit/${n}`, import.meta.url).pathname;
const ref = JSON.parse(readFileSync(file("tiny_logits.json"), "utf8")) as Record<"input8" | "input12", number[]> & Record<"logits8" | "logits12" | "headless8", number[][]>;
const cfg: VitConfig = { imgSize: 8, patchSize: 4, inChans: 3, numClasses: 3, embedDim: 8, depth: 1, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };

async function forward(ps: ParameterStore, c: VitConfig, input: number[]): Promise<Float32Array> {
  const g = new GraphBuilder();
  const x = g.input("images", [2, 3, c.imgSize, c.imgSize]);
  g.output(vitForward(g, new ParamBinder(g, ps), c, x), "out");
  const s = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const out = (await s.run({ images: Float32Array.from(input) })).out!.data as Float32Array;
  await s.release();
  return out;
}

const maxDiff = (a: ArrayLike<number>, b: number[]) => Math.max(...b.map((v, i) => Math.abs(v - a[i]!)));

describe("foreign checkpoint files", () => {
  test("Google npz (numpy-written): strict load, logits match torch within 1e-5", async () => {
    const raw = readNpz(file("tiny.npz"));
    assert.equal(detectCheckpointSource(raw), "npz");
    const ps = createVitParams(cfg, new Rng(0));
    loadPretrained(ps, checkpointFilter(raw, cfg, "npz"), { strict: true });
    assert.ok(maxDiff(await forward(ps, cfg, ref.input8), ref.logits8.flat()) < 1e-5);
  });

  test("the same npz at 12px: pos_embed resampled 2x2 -> 3x3 as timm's npz loader, logits match torch", async () => {
    const c12 = { ...cfg, imgSize: 12 };
    const ps = createVitParams(c12, new Rng(0));
    loadPretrained(ps, checkpointFilter(readNpz(file("tiny.npz")), c12, "npz"), { strict: true });
    assert.ok(maxDiff(await forward(ps, c12, ref.input12), ref.logits12.flat()) < 1e-5);
  });

  test("MAE .pth: decoder dropped, only the head is missing, features match torch", async () => {
    const raw = readPth(file("tiny_mae.pth")).tensors;
    assert.equal(detectCheckpointSource(raw), "mae");
    const ps = createVitParams({ ...cfg, numClasses: 0 }, new Rng(0));
    const r = loadPretrained(ps, checkpointFilter(raw, cfg, "mae"), { strict: true });
    assert.equal(r.loaded.length, ps.list().length);
    assert.ok(maxDiff(await forward(ps, { ...cfg, numClasses: 0 }, ref.input8), ref.headless8.flat()) < 1e-5);
  });

  test("MoCo v3 .pth.tar: base encoder kept, momentum encoder, predictor and projector dropped, head reported missing", async () => {
    const raw = readPth(file("tiny_mocov3.pth.tar")).tensors;
    assert.equal(detectCheckpointSource(raw), "mocov3");
    const ps = createVitParams(cfg, new Rng(0));
    const r = loadPretrained(ps, checkpointFilter(raw, cfg, "mocov3"));
    assert.deepEqual([r.missing, r.unexpected, r.mismatched], [["head.weight", "head.bias"], [], []]);
    const feats = createVitParams({ ...cfg, numClasses: 0 }, new Rng(0));
    loadPretrained(feats, checkpointFilter(raw, cfg, "mocov3"), { strict: true, ignoreMissing: (n) => n.startsWith("head.") });
    assert.ok(maxDiff(await forward(feats, { ...cfg, numClasses: 0 }, ref.input8), ref.headless8.flat()) < 1e-5);
  });
});
