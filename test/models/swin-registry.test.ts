/**
 * @file Swin through the Backbone seam: model names resolve through the registry, applyAdapters picks the
 * authors' sites and trained head, merged weights reproduce the adapted logits (q, k, v rows of the fused
 * qkv), and a training graph with stochastic depth and adapter regularisers runs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, type ParameterStore } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import { IMAGENET_DEFAULT_MEAN } from "../../src/models/pretrained.js";
import { backboneOf, getBackbone, resolveVariant, variantNames } from "../../src/models/registry.js";
import { createSwinParams, swinForward, type SwinConfig } from "../../src/models/swin.js";
import { applyAdapters, type PeftModel } from "../../src/peft/apply.js";
import { merge } from "../../src/peft/merge.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

const cfg: SwinConfig = { arch: "swin", imgSize: 32, patchSize: 4, inChans: 3, numClasses: 5, embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: 4, mlpRatio: 4, qkvBias: true, eps: 1e-5 };
const B = 2;
const images = Float32Array.from({ length: B * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.31));

/** Runs `build` once, feeding images, every graph input that is a parameter, and int32 seeds. */
async function run(ps: ParameterStore, build: (g: GraphBuilder, bind: ParamBinder, x: Value) => Value): Promise<Float32Array> {
  const g = new GraphBuilder();
  const x = g.input("images", [B, 3, 32, 32]);
  g.output(build(g, new ParamBinder(g, ps), x), "out");
  const feeds: Record<string, Float32Array | Int32Array> = { images };
  for (const v of g.inputs) {
    if (v.name === "images") continue;
    feeds[v.name] = v.dtype === "int32" ? Int32Array.of(7) : ps.get(v.name).data;
  }
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const res = await c.run(feeds);
  await c.release();
  return Float32Array.from(res.out!.data as Float32Array);
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe("Swin in the registry", () => {
  test("model names resolve to Swin configs with timm's tags, normalisation and input size", () => {
    assert.equal(getBackbone("swin").arch, "swin");
    for (const a of ["tiny", "small", "base", "large"]) assert.ok(variantNames().includes(`swin_${a}_patch4_window7_224`));
    const v = resolveVariant("swin_base_patch4_window7_224.ms_in22k", { numClasses: 10 });
    assert.equal(backboneOf(v.config).arch, "swin");
    assert.deepEqual([v.config.numClasses, v.config.imgSize, v.pretrained!.numClasses, v.pretrained!.inputSize], [10, 224, 21841, [3, 224, 224]]);
    assert.deepEqual(v.pretrained!.mean, IMAGENET_DEFAULT_MEAN);
    assert.equal(resolveVariant("swin_tiny_patch4_window7_224").name, "swin_tiny_patch4_window7_224.ms_in1k");
    assert.throws(() => resolveVariant("swin_base_patch4_window7_224", { windowSize: 5 }), /grid 56 is not a multiple of swin\.windowSize 5/);
    assert.throws(() => resolveVariant("swin_base_patch4_window7_224", { depth: 3 }), /unknown key "depth"/);
  });
});

describe("Swin's new head", () => {
  test("starts as torch's nn.Linear default, as the authors' Swin (no init_weights): U(-1/sqrt(in), 1/sqrt(in)) for weight and bias", () => {
    const big = { ...cfg, numClasses: 200 };
    const ps = createSwinParams(big, new Rng(4));
    const bound = 1 / Math.sqrt(32);
    for (const n of ["head.fc.weight", "head.fc.bias"]) {
      const d = ps.get(n).data;
      const max = d.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(max <= bound && max > 0.9 * bound, `${n}: max |v| ${max}, bound ${bound}`);
      // A uniform on [-b, b] has standard deviation b / sqrt(3) (a normal of std 0.02 would give 0.02).
      const sd = Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
      assert.ok(Math.abs(sd - bound / Math.sqrt(3)) < 0.15 * bound / Math.sqrt(3), `${n}: sd ${sd}`);
    }
  });
});

describe("Swin with adapters", () => {
  const base = () => ({ cfg, params: createSwinParams(cfg, new Rng(0)) });

  test("defaults: q, k, v, proj, fc1, fc2 of every block adapted, head.fc trained, nothing else", () => {
    const pm = applyAdapters(base(), { method: "snell", rank: 4 });
    assert.equal(pm.sites.length, 6 * 4);
    assert.deepEqual(new Set(pm.sites.map((s) => s.kind)), new Set(["q", "k", "v", "proj", "fc1", "fc2"]));
    const trainedBackbone = pm.params.trainable().map((p) => p.name).filter((n) => !n.includes("snell_"));
    assert.deepEqual(trainedBackbone, ["head.fc.weight", "head.fc.bias"]);
  });

  for (const method of ["lora", "snell"] as const) {
    test(`${method}: the merged weights give the adapted model's logits (eval graph)`, async () => {
      const pm: PeftModel = applyAdapters(base(), { method, rank: 4, ...(method === "snell" ? { sparsity: 0.5 } : {}) }, { seed: 3 });
      // LoRA starts at dW = 0; move its B so that merging has something to fold.
      const rng = new Rng(9);
      for (const p of pm.params.trainable()) if (p.name.includes("lora_B")) p.data.forEach((_, i) => { p.data[i] = rng.normal() * 0.05; });
      const adapted = await run(pm.params, (g, bind, x) => pm.forward(g, bind, x));
      const merged = await run(merge(pm), (g, bind, x) => swinForward(g, bind, cfg, x));
      const plain = await run(base().params, (g, bind, x) => swinForward(g, bind, cfg, x));
      const scale = adapted.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      console.log(`# ${method}: |adapted - plain| ${maxDiff(adapted, plain).toExponential(2)}, |adapted - merged| ${maxDiff(adapted, merged).toExponential(2)}, max |logit| ${scale.toExponential(2)}`);
      assert.ok(maxDiff(adapted, plain) > 1e-3 * scale, "the adapters change the logits (by far more than the merge tolerance)");
      assert.ok(maxDiff(adapted, merged) < 1e-5 * scale, `merged vs adapted: ${maxDiff(adapted, merged)}`);
    });
  }

  test("a training graph with stochastic depth 0.1 and the authors' adapter regularisers runs, finite", async () => {
    const pm = applyAdapters(base(), { method: "snell", rank: 4, dropout: 0.1, dropPath: 0.1 });
    let inputs: string[] = [];
    const out = await run(pm.params, (g, bind, x) => {
      const y = pm.forward(g, bind, x, { train: true, stochasticDepth: 0.1 });
      inputs = g.inputs.filter((v) => v.dtype === "int32").map((v) => v.name);
      return y;
    });
    assert.deepEqual(inputs.sort(), ["snell_dropout_seed", "stochastic_depth_seed"]);
    assert.ok(out.every(Number.isFinite));
  });
});
