/** @file ViT parameter keys, shapes and sites match timm's; variant lookup resolves timm names. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { VIT_PRETRAINED, vitVariant, vitVariantNames } from "../../src/models/vit-variants.js";
import { createVitParams, validateVitConfig, vitParamSpecs, vitSites, type VitConfig } from "../../src/models/vit.js";
import { Rng } from "../../src/random.js";

const keys = JSON.parse(readFileSync(new URL("../fixtures/vit/vit_base_patch16_224.keys.json", import.meta.url), "utf8")) as { keys: [string, number[]][] };
const tiny: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 5, embedDim: 8, depth: 2, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };

describe("ViT parameters", () => {
  test("vit_base_patch16_224 has timm's keys and shapes, in state-dict order (86.6M values)", () => {
    const specs = vitParamSpecs(vitVariant("vit_base_patch16_224", { numClasses: 1000 }).config);
    assert.deepEqual(specs.map((s) => [s.name, s.shape]), keys.keys);
    assert.equal(specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0), 86_567_656);
  });

  test("createVitParams follows the specs: frozen, LN ones/zeros, biases zero, no decay on 1-D, cls_token, pos_embed", () => {
    const ps = createVitParams(tiny, new Rng(3));
    const specs = vitParamSpecs(tiny);
    assert.deepEqual(ps.list().map((p) => [p.name, p.shape]), specs.map((s) => [s.name, s.shape]));
    assert.equal(ps.trainable().length, 0);
    for (const p of ps.list()) {
      const noDecay = p.shape.length === 1 || p.name === "cls_token" || p.name === "pos_embed";
      assert.equal(p.decay, !noDecay, p.name);
    }
    assert.ok(ps.get("blocks.1.norm2.weight").data.every((v) => v === 1));
    assert.ok(ps.get("blocks.0.attn.qkv.bias").data.every((v) => v === 0));
    const w = ps.get("blocks.0.mlp.fc1.weight").data;
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(std > 0.012 && std < 0.02 && w.every((v) => Math.abs(v) <= 0.04), `trunc-normal(0.02): std ${std}`);
  });

  test("numClasses 0 has no head parameters and no head site; qkvBias false drops the qkv bias", () => {
    const names = vitParamSpecs({ ...tiny, numClasses: 0, qkvBias: false }).map((s) => s.name);
    assert.ok(!names.some((n) => n.startsWith("head") || n.endsWith("qkv.bias")));
    assert.ok(!vitSites({ ...tiny, numClasses: 0 }).some((s) => s.path === "head"));
  });

  test("sites are q, k, v, proj, fc1, fc2 per block, then head, with their sizes", () => {
    const sites = vitSites(tiny);
    assert.deepEqual(sites.slice(0, 6).map((s) => [s.path, s.nIn, s.nOut, s.block, s.kind]), [
      ["blocks.0.attn.q", 8, 8, 0, "q"], ["blocks.0.attn.k", 8, 8, 0, "k"], ["blocks.0.attn.v", 8, 8, 0, "v"],
      ["blocks.0.attn.proj", 8, 8, 0, "proj"], ["blocks.0.mlp.fc1", 8, 32, 0, "fc1"], ["blocks.0.mlp.fc2", 32, 8, 0, "fc2"],
    ]);
    assert.deepEqual(sites.at(-1), { path: "head", nIn: 8, nOut: 5, block: null, kind: "head" });
    assert.equal(sites.length, 2 * 6 + 1);
  });

  test("invalid configs name the field", () => {
    assert.throws(() => validateVitConfig({ ...tiny, imgSize: 20 }), /vit.imgSize 20 is not a multiple of vit.patchSize 8/);
    assert.throws(() => validateVitConfig({ ...tiny, numHeads: 3 }), /vit.embedDim 8 is not divisible by vit.numHeads 3/);
  });
});

describe("ViT variants", () => {
  test("a full timm name resolves to its architecture and pretrained cfg", () => {
    const v = vitVariant("vit_base_patch16_224.augreg_in21k");
    assert.equal(v.arch, "vit_base_patch16_224");
    assert.deepEqual([v.config.embedDim, v.config.depth, v.config.numHeads, v.config.patchSize, v.config.numClasses], [768, 12, 12, 16, 21843]);
    assert.deepEqual([v.pretrained.mean, v.pretrained.cropPct, v.pretrained.interpolation], [[0.5, 0.5, 0.5], 0.9, "bicubic"]);
  });

  test("384 tags carry their input size and crop_pct 1.0; MAE uses ImageNet mean/std and no head", () => {
    const v = vitVariant("vit_base_patch16_384.augreg_in21k_ft_in1k");
    assert.deepEqual([v.config.imgSize, v.pretrained.inputSize, v.pretrained.cropPct], [384, [3, 384, 384], 1.0]);
    const mae = vitVariant("vit_base_patch16_224.mae", { numClasses: 100 });
    assert.deepEqual([mae.pretrained.mean, mae.pretrained.numClasses, mae.config.numClasses, mae.pretrained.source], [[0.485, 0.456, 0.406], 0, 100, "mae"]);
    assert.equal(vitVariant("vit_huge_patch14_224.orig_in21k").config.embedDim, 1280);
  });

  test("an architecture alone takes its first tag", () => {
    assert.equal(vitVariant("vit_base_patch16_224").name, "vit_base_patch16_224.orig_in21k");
  });

  test("unknown names throw a ConfigError listing the valid ones", () => {
    assert.throws(() => vitVariant("vit_base_patch16_224.nope"), (e: Error) =>
      e instanceof ConfigError && /unknown ViT variant "vit_base_patch16_224.nope"; expected one of .*vit_base_patch16_224\.orig_in21k/.test(e.message));
    assert.throws(() => vitVariant("vit_bse"), /unknown ViT variant "vit_bse"/);
  });

  test("every listed name resolves, and every tag's arch exists", () => {
    for (const n of vitVariantNames()) assert.doesNotThrow(() => vitVariant(n), n);
    assert.ok(Object.keys(VIT_PRETRAINED).length >= 20);
  });
});
