/**
 * @file ConvNeXt forward parity with two independent PyTorch module trees (timm's and Facebook's original,
 * scripts/torch/make_convnext_fixture.py), from both checkpoint layouts; key order and shapes of
 * ConvNeXt-B; gradients through the whole network to an early adapter site by finite differences.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { readPth } from "../../src/checkpoint/pth.js";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, type ParameterStore } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import type { SiteHook } from "../../src/models/backbone.js";
import { convnext, convnextForward, convnextSites, createConvNextParams, type ConvNextConfig } from "../../src/models/convnext.js";
import { convnextCheckpointFilter } from "../../src/models/convnext-checkpoint.js";
import { convnextVariant } from "../../src/models/convnext-variants.js";
import { formatLoadReport, loadPretrained, type RawTensor } from "../../src/models/load.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { gradCheck } from "../helpers/gradcheck.js";

const dir = new URL("../fixtures/convnext/", import.meta.url);
const ref = JSON.parse(readFileSync(new URL("logits.json", dir), "utf8")) as { config: ConvNextConfig; input_shape: number[]; logits: number[][] };
const cfg = ref.config;
const input = new Float32Array(readFileSync(new URL("input.bin", dir)).buffer.slice(0));
const B = ref.input_shape[0]!;

function loaded(raw: ReadonlyMap<string, RawTensor>, c: ConvNextConfig = cfg, strict = true) {
  const ps = createConvNextParams(c, new Rng(0));
  const { tensors, source } = convnextCheckpointFilter(raw, c);
  const report = loadPretrained(ps, tensors, { strict });
  return { ps, source, report };
}

async function logitsOf(ps: ParameterStore, hook?: SiteHook): Promise<Float32Array> {
  const g = new GraphBuilder();
  const x = g.input("images", ref.input_shape);
  g.output(convnextForward(g, new ParamBinder(g, ps), cfg, x, hook ? { adapt: hook } : {}), "logits");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1, weights: "inputs" });
  const out = (await c.run({ images: input })).logits!.data as Float32Array;
  await c.release();
  return out;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("ConvNeXt forward parity with PyTorch", () => {
  test("timm-layout safetensors: strict load, logits within 1e-4", async () => {
    const { ps, source, report } = loaded(readSafetensors(new URL("model.safetensors", dir).pathname));
    assert.equal(source, "timm");
    assert.equal(report.loaded.length, ps.list().length);
    const d = maxDiff(await logitsOf(ps), ref.logits.flat());
    console.log(`# reduced ConvNeXt ${convnext.describe(cfg)} from safetensors: max |logits - torch| = ${d.toExponential(2)}`);
    assert.ok(d < 1e-4, `max |logits - torch| = ${d}`);
  });

  test("FB-layout .pth ({'model': sd}, downsample_layers / dwconv / pwconv): detected, strict load, same logits", async () => {
    const pth = readPth(new URL("fb.pth", dir).pathname);
    assert.ok([...pth.tensors.keys()].some((k) => k.includes("downsample_layers.0.0") || k.includes("pwconv1")));
    const { ps, source, report } = loaded(pth.tensors);
    assert.equal(source, "fb");
    assert.equal(report.loaded.length, ps.list().length);
    const d = maxDiff(await logitsOf(ps), ref.logits.flat());
    console.log(`# reduced ConvNeXt from FB .pth: max |logits - torch| = ${d.toExponential(2)}`);
    assert.ok(d < 1e-4, `max |logits - torch| = ${d}`);
  });

  test("non-strict load into a 10-class model reports the head mismatch and a stray key, and keeps the rest", () => {
    const raw = new Map<string, RawTensor>(readSafetensors(new URL("model.safetensors", dir).pathname));
    raw.set("head.extra", { shape: [1], data: new Float32Array(1) });
    const { report } = loaded(raw, { ...cfg, numClasses: 10 }, false);
    assert.deepEqual(report.mismatched.map((m) => m.key).sort(), ["head.fc.bias", "head.fc.weight"]);
    assert.deepEqual(report.unexpected, ["head.extra"]);
    assert.deepEqual(report.missing, []);
    assert.match(formatLoadReport(report), /shape mismatch for head\.fc\.weight: checkpoint \[5, 32\], model \[10, 32\]/);
    assert.throws(() => loaded(raw, { ...cfg, numClasses: 10 }, true), /strict/);
  });

  test("an identity hook at every site leaves the logits unchanged, and sees image-sized sample groups", async () => {
    const { ps } = loaded(readSafetensors(new URL("model.safetensors", dir).pathname));
    const seen: string[] = [];
    const hook: SiteHook = (s, x, y, _frozen, samples) => {
      assert.equal(samples, B);
      assert.equal(x.shape[1], s.nIn);
      assert.equal(y.shape[1], s.nOut);
      assert.equal(x.shape[0]! % B, 0);
      seen.push(s.path);
      return y;
    };
    assert.equal(maxDiff(await logitsOf(ps, hook), await logitsOf(ps)), 0);
    assert.deepEqual(seen, convnextSites(cfg).map((s) => s.path));
  });
});

describe("ConvNeXt-B layout", () => {
  test("parameter names, order and shapes are timm's state dict (fb_in22k: 21841 classes)", () => {
    const keys = JSON.parse(readFileSync(new URL("convnext_base.keys.json", dir), "utf8")) as { keys: [string, number[]][] };
    const v = convnextVariant("convnext_base.fb_in22k");
    assert.deepEqual(convnext.paramSpecs(v.config).map((s) => [s.name, s.shape]), keys.keys);
    assert.deepEqual(v.pretrained?.mean, [0.485, 0.456, 0.406]);
    assert.equal(convnext.describe(v.config), "ConvNeXt [128..1024]/[3,3,27,3]");
    const sites = convnext.sites(v.config);
    assert.equal(sites.length, 2 * 36 + 1);
    assert.deepEqual(sites.slice(0, 2).map((s) => [s.path, s.nIn, s.nOut, s.block]), [["stages.0.blocks.0.mlp.fc1", 128, 512, 0], ["stages.0.blocks.0.mlp.fc2", 512, 128, 0]]);
    assert.deepEqual(sites.at(-2)!.block, 35);
  });
});

describe("ConvNeXt stochastic depth", () => {
  test("block i of N drops whole images with probability rate * i / (N - 1) (timm's linspace over all stages)", () => {
    const ps = createConvNextParams(cfg, new Rng(0));
    const g = new GraphBuilder();
    const seen: [number, number][] = [];
    const dropPath = g.dropPath.bind(g);
    g.dropPath = (x, p, seed, salt) => { seen.push([p, x.shape[0]!]); return dropPath(x, p, seed, salt); };
    convnextForward(g, new ParamBinder(g, ps), cfg, g.input("images", ref.input_shape), { dropPath: { rate: 0.2, seed: g.input("seed", [], "int64") } });
    const N = cfg.depths.reduce((a, b) => a + b, 0);
    // Block 0's rate is 0: no node at all.
    assert.deepEqual(seen.map(([p]) => p), Array.from({ length: N - 1 }, (_, i) => (0.2 * (i + 1)) / (N - 1)));
    assert.ok(seen.every(([, rows]) => rows === B), "the drop unit is the image");
  });
});

describe("ConvNeXt variants", () => {
  test("parameter counts are timm's model cards' (fb_in1k heads): 28.59M, 50.22M, 88.59M, 197.77M", () => {
    const want = { convnext_tiny: 28_589_128, convnext_small: 50_223_688, convnext_base: 88_591_464, convnext_large: 197_767_336 };
    for (const [arch, n] of Object.entries(want)) {
      const specs = convnext.paramSpecs(convnextVariant(`${arch}.fb_in1k`).config);
      assert.equal(specs.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0), n, arch);
    }
    assert.equal(convnextVariant("convnext_base").name, "convnext_base.fb_in22k", "the paper's ImageNet-21k weights are the default");
    assert.throws(() => convnextVariant("convnext_base", { imgSize: 100 }), /multiple of 32/);
  });
});

describe("ConvNeXt gradients", () => {
  test("through every later block, downsampling and the head to stage 0's fc1 match finite differences", async () => {
    const { ps } = loaded(readSafetensors(new URL("model.safetensors", dir).pathname));
    const small: ConvNextConfig = { ...cfg, imgSize: 32 };
    const hidden = cfg.dims[0]! * cfg.mlpRatio;
    const build = (g: GraphBuilder, [images, delta]: Value[]) => {
      const hook: SiteHook = (s, _x, y) => (s.path === "stages.0.blocks.0.mlp.fc1" ? g.Add(y, delta!) : y);
      return convnextForward(g, new ParamBinder(g, ps), small, g.stopGradient(images!), { adapt: hook });
    };
    const imgs = Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37));
    const { maxError, checked } = await gradCheck(build, [{ shape: [1, 3, 32, 32], values: imgs }, { shape: [hidden] }], { dtype: "float32" });
    assert.equal(checked, hidden);
    assert.ok(maxError < 5e-3, `max error ${maxError}`);
  });
});
