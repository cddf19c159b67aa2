/**
 * @file Methods on a reduced ConvNeXt: SNELL's fused, recomputing site equals the autodiff path on
 * ConvNeXt's channels-last MLP rows (within 1e-5, with and without adapter dropout / per-image
 * drop-path); applyAdapters picks the authors' defaults (fc1, fc2; head.fc and head.norm train); a
 * few steps of SNELL, LoRA, Adapter, BitFit, linear probing and full fine-tuning with backbone drop-path
 * lower the loss on a fixed batch.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder } from "../../src/ir/parameters.js";
import { convnextForward, convnextSites, createConvNextParams, type ConvNextConfig } from "../../src/models/convnext.js";
import { convnextVariant } from "../../src/models/convnext-variants.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { SNELL_DEFAULTS, SNELL_SEED_INPUT, snell, type SnellConfig } from "../../src/peft/snell/index.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { trainSteps } from "../helpers/train-steps.js";

const cfg: ConvNextConfig = { ...convnextVariant("convnext_test").config, numClasses: 5, lsInitValue: 0.5 };
const B = 2;
const images = Float32Array.from({ length: B * 3 * cfg.imgSize ** 2 }, (_, i) => Math.sin(i * 0.13));

async function snellRun(recompute: boolean, reg: number) {
  const sc: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, rank: 4, sparsity: 0.5, dropout: reg, dropPath: reg, recompute };
  const ps = createConvNextParams(cfg, new Rng(1));
  const sites = convnextSites(cfg).filter((s) => s.kind === "fc1" || s.kind === "fc2");
  const rng = new Rng(2);
  for (const s of sites) snell.init(ps, s, sc, rng);
  const g = new GraphBuilder();
  const bind = new ParamBinder(g, ps);
  const x = g.input("images", [B, 3, cfg.imgSize, cfg.imgSize]);
  const seed = g.input(SNELL_SEED_INPUT, [], "int32");
  const logits = convnextForward(g, bind, cfg, x, {
    adapt: (site, xs, y, frozen, samples) => (site.kind === "fc1" || site.kind === "fc2"
      ? snell.adapt({ g, bind, site, x: xs, y, frozen, samples, train: true, runInput: () => seed }, sc)
      : y),
  });
  const r = g.constant(Array.from({ length: B * cfg.numClasses }, (_, i) => Math.cos(i * 0.7)), [B, cfg.numClasses]);
  const trainable = ps.trainable();
  const grads = grad(g, g.ReduceSum(g.Mul(logits, r), [0, 1], 0), trainable.map((p) => bind.get(p.name)));
  grads.forEach((d, i) => g.output(d, `grad${i}`));
  g.output(logits, "logits");
  const feeds: Record<string, Float32Array | Int32Array> = { images };
  if (reg > 0) feeds[SNELL_SEED_INPUT] = Int32Array.of(12345);
  for (const p of trainable) feeds[p.name] = p.data;
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const res = await c.run(feeds);
  await c.release();
  const get = (n: string) => Float32Array.from(res[n]!.data as Float32Array);
  const fused = g.nodes.filter((n) => n.type === "CustomGrad" && n.name.includes("snell_adapter")).length;
  return { logits: get("logits"), grads: grads.map((_, i) => get(`grad${i}`)), fused, sites: sites.length };
}

function maxRelErr(ours: Float32Array, ref: Float32Array): number {
  let scale = 0, err = 0;
  for (let i = 0; i < ref.length; i++) { scale = Math.max(scale, Math.abs(ref[i]!)); err = Math.max(err, Math.abs(ours[i]! - ref[i]!)); }
  return err / scale;
}

describe("SNELL's fused site on ConvNeXt", () => {
  for (const [title, reg] of [["folded (no regularisers)", 0], ["with adapter dropout and per-image drop-path 0.1", 0.1]] as const) {
    test(`fused and autodiff paths agree within 1e-5, ${title}`, async () => {
      const ref = await snellRun(false, reg);
      const ours = await snellRun(true, reg);
      assert.equal(ours.fused, ours.sites, "the fused op serves every fc1 / fc2 site");
      assert.equal(ref.fused, 0);
      assert.ok(maxRelErr(ours.logits, ref.logits) < 1e-5);
      assert.equal(ours.grads.length, ref.grads.length);
      ours.grads.forEach((d, k) => assert.ok(maxRelErr(d, ref.grads[k]!) < 1e-5, `gradient ${k}`));
    });
  }
});

/** Steps on one fixed batch; returns the losses and the trainable names. */
async function steps(method: Record<string, unknown>, n = 4) {
  const pm = applyAdapters({ cfg, params: createConvNextParams(cfg, new Rng(3)) }, method, { seed: 0 });
  const { losses, g } = await trainSteps(pm, images, BigInt64Array.from([1n, 3n]), n);
  return { losses, trainable: pm.params.trainable().map((p) => p.name), g };
}

describe("methods on ConvNeXt", () => {
  test("SNELL's defaults: adapters on every fc1 / fc2, head.fc and head.norm train; the loss falls; dw kernels stay frozen initializers", async () => {
    const { losses, trainable, g } = await steps({ method: "snell", rank: 4 });
    const backbone = trainable.filter((n) => !n.includes("snell"));
    assert.deepEqual(backbone.sort(), ["head.fc.bias", "head.fc.weight", "head.norm.bias", "head.norm.weight"]);
    const adapted = new Set(trainable.filter((n) => n.includes("snell")).map((n) => n.slice(0, n.lastIndexOf(".mlp.") + 8)));
    assert.equal(adapted.size, convnextSites(cfg).filter((s) => s.block !== null).length);
    assert.ok(losses.every(Number.isFinite) && losses.at(-1)! < losses[0]!, `losses ${losses.join(", ")}`);
    assert.ok(g.nodes.every((n) => !n.name.includes("conv_dw.weight_grad")));
    assert.equal([...g.inGraph].filter((v) => v.name.endsWith("conv_dw.weight")).length, 5);
  });

  test("LoRA, Adapter, BitFit, linear probing and full fine-tuning (depthwise weight gradients included) lower the loss", async () => {
    for (const method of [{ method: "lora", rank: 4 }, { method: "adapter" }, { method: "bitfit" }, { method: "linear" }, { method: "full" }]) {
      const { losses, trainable } = await steps(method);
      if (method.method === "full") assert.ok(trainable.includes("stages.2.blocks.1.conv_dw.weight"));
      assert.ok(losses.every(Number.isFinite) && losses.at(-1)! < losses[0]!, `${method.method}: losses ${losses.join(", ")}`);
    }
  });
});
