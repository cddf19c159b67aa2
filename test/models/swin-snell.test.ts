/**
 * @file SNELL's fused site (peft/snell/site.ts) serves Swin's windowed attention inputs: on a reduced
 * Swin the fused, recomputing path and the autodiff path give the same logits and adapter gradients
 * within 1e-5, folded into the frozen layers (no regularisers) and with adapter dropout and a
 * per-window / per-image adapter drop-path.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import { createSwinParams, swinForward, swinSites, type SwinConfig } from "../../src/models/swin.js";
import { SNELL_DEFAULTS, SNELL_SEED_INPUT, snell, type SnellConfig } from "../../src/peft/snell/index.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

// 8x8 grid, window 4: stage 0 has 4 windows per image and a shifted block; stage 1 is one window.
const cfg: SwinConfig = { arch: "swin", imgSize: 32, patchSize: 4, inChans: 3, numClasses: 5, embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: 4, mlpRatio: 4, qkvBias: true, eps: 1e-5 };
const B = 2;
const targets = new Set(["q", "k", "v", "proj", "fc1", "fc2"]);

interface Result { logits: Float32Array; grads: Float32Array[]; customGrads: number }

async function build(recompute: boolean, reg: number): Promise<Result> {
  const sc: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, rank: 4, sparsity: 0.5, dropout: reg, dropPath: reg, recompute };
  const ps = createSwinParams(cfg, new Rng(1));
  const sites = swinSites(cfg).filter((s) => targets.has(s.kind));
  const rng = new Rng(2);
  for (const s of sites) snell.init(ps, s, sc, rng);
  const g = new GraphBuilder();
  const bind = new ParamBinder(g, ps);
  const images = g.input("images", [B, 3, cfg.imgSize, cfg.imgSize]);
  const seed = g.input(SNELL_SEED_INPUT, [], "int32");
  const logits = swinForward(g, bind, cfg, images, {
    adapt: (site, x, y, frozen, samples) => (targets.has(site.kind)
      ? snell.adapt({ g, bind, site, x, y, frozen, samples, train: true, runInput: () => seed }, sc)
      : y),
  });
  const r = g.constant(Array.from({ length: B * cfg.numClasses }, (_, i) => Math.cos(i * 0.7)), [B, cfg.numClasses]);
  const loss = g.ReduceSum(g.Mul(logits, r), [0, 1], 0);
  const trainable = ps.trainable();
  const grads = grad(g, loss, trainable.map((p) => bind.get(p.name)));
  grads.forEach((d, i) => g.output(d, `grad${i}`));
  g.output(logits, "logits");
  const feeds: Record<string, Float32Array | Int32Array> = {
    images: Float32Array.from({ length: B * 3 * cfg.imgSize ** 2 }, (_, i) => Math.sin(i * 0.13)),
  };
  // Without regularisers nothing reads the seed and the graph has no such input.
  if (reg > 0) feeds[SNELL_SEED_INPUT] = Int32Array.of(12345);
  for (const p of trainable) feeds[p.name] = p.data;
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const res = await c.run(feeds);
  await c.release();
  const get = (n: string) => Float32Array.from(res[n]!.data as Float32Array);
  return { logits: get("logits"), grads: grads.map((_, i) => get(`grad${i}`)), customGrads: g.nodes.filter((n) => n.type === "CustomGrad" && n.name.includes("snell_adapter")).length };
}

function maxRelErr(ours: Float32Array, ref: Float32Array): number {
  let scale = 0, err = 0;
  for (let i = 0; i < ref.length; i++) { scale = Math.max(scale, Math.abs(ref[i]!)); err = Math.max(err, Math.abs(ours[i]! - ref[i]!)); }
  // A gradient that is zero in both (every sample's branch dropped at that site) agrees exactly.
  return scale === 0 ? err : err / scale;
}

for (const [title, reg] of [["folded (no regularisers)", 0], ["with adapter dropout and per-window drop-path 0.1", 0.1]] as const) {
  test(`SNELL on a reduced Swin: fused and autodiff paths agree within 1e-5, ${title}`, async () => {
    const ref = await build(false, reg);
    const ours = await build(true, reg);
    const nSites = swinSites(cfg).filter((s) => targets.has(s.kind)).length;
    assert.equal(ours.customGrads, nSites, "the fused op serves every site, windowed attention included");
    assert.equal(ref.customGrads, 0);
    const dl = maxRelErr(ours.logits, ref.logits);
    console.log(`# ${title}: logits rel err ${dl.toExponential(2)}, ${ours.grads.length} gradients`);
    assert.ok(dl < 1e-5, `logits: ${dl}`);
    assert.equal(ours.grads.length, ref.grads.length);
    ours.grads.forEach((d, k) => {
      const e = maxRelErr(d, ref.grads[k]!);
      assert.ok(e < 1e-5, `gradient ${k}: relative error ${e}`);
    });
  });
}

test("with dropout and drop-path at 0.1 the logits differ from the clean ones (the regularisers are active in the compared graphs)", async () => {
  // Guards the comparison above against a drop-path that silently does nothing.
  const clean = await build(true, 0);
  const reg = await build(true, 0.1);
  assert.ok(maxRelErr(reg.logits, clean.logits) > 1e-4);
});
