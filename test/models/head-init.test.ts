/**
 * @file A new head starts as timm's trunc_normal_(std=0.02) with its absolute cut at +-2 (so in effect an
 * untruncated normal), and the shipped demo backbone is a named variant whose weight file fits it.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { loadPretrained } from "../../src/models/load.js";
import { NAMED_VITS, vitVariant, vitVariantNames } from "../../src/models/vit-variants.js";
import { createVitParams, timmTruncNormal, vitParamSpecs, type VitConfig } from "../../src/models/vit.js";
import { Rng } from "../../src/random.js";

const CFG: VitConfig = { imgSize: 8, patchSize: 4, inChans: 3, numClasses: 1000, embedDim: 96, depth: 1, numHeads: 2, mlpRatio: 1, qkvBias: true, eps: 1e-6 };

/** Sample moments: std, kurtosis, share beyond k std, largest |x|. */
function moments(x: Float32Array, std: number) {
  let s2 = 0, s4 = 0, beyond2 = 0, beyond3 = 0, max = 0;
  for (const v of x) {
    s2 += v * v; s4 += v ** 4;
    if (Math.abs(v) > 2 * std) beyond2++;
    if (Math.abs(v) > 3 * std) beyond3++;
    max = Math.max(max, Math.abs(v));
  }
  const n = x.length, m2 = s2 / n;
  return { std: Math.sqrt(m2), kurtosis: s4 / n / (m2 * m2), beyond2: beyond2 / n, beyond3: beyond3 / n, max };
}

describe("head init", () => {
  const params = createVitParams(CFG, new Rng(3));
  const w = params.get("head.weight").data;

  test("the head is the one weight drawn as timm's trunc_normal_; its bias is zero", () => {
    assert.deepEqual(vitParamSpecs(CFG).filter((s) => s.init === "head").map((s) => s.name), ["head.weight"]);
    assert.ok(params.get("head.bias").data.every((v) => v === 0));
  });

  test("96,000 draws have the moments of N(0, 0.02^2), tails included", () => {
    const m = moments(w, 0.02);
    // Standard errors at n = 96,000: std 0.23%, kurtosis ~0.016, P(|z| > 2) 0.07 points.
    assert.ok(Math.abs(m.std / 0.02 - 1) < 0.01, `std ${m.std}`);
    assert.ok(Math.abs(m.kurtosis - 3) < 0.1, `kurtosis ${m.kurtosis}`);
    // A cut at +-2 std (our other "trunc" weights) would leave nothing beyond 2 std and kurtosis ~2.4.
    assert.ok(Math.abs(m.beyond2 - 0.0455) < 0.004, `beyond 2 std: ${m.beyond2}`);
    assert.ok(Math.abs(m.beyond3 - 0.0027) < 0.001, `beyond 3 std: ${m.beyond3}`);
    assert.ok(m.max > 3.5 * 0.02 && m.max < 2, `max ${m.max}`);
  });

  test("the cut is absolute: bounds tighter than the spread are enforced", () => {
    const x = timmTruncNormal(new Rng(1), 5000, 1, -0.5, 0.25);
    assert.ok(x.every((v) => v >= -0.5 && v <= 0.25));
    assert.ok(Math.min(...x) < -0.45 && Math.max(...x) > 0.2);
  });
});

describe("demo-vit-mnist04 variant", () => {
  test("is a named 1-channel 28x28 variant with MNIST's mean/std and a shipped weight file that fits it", () => {
    assert.ok(vitVariantNames().includes("demo-vit-mnist04"));
    const v = vitVariant("demo-vit-mnist04", { numClasses: 10 });
    assert.deepEqual([v.config.inChans, v.config.imgSize, v.config.patchSize, v.config.numClasses], [1, 28, 7, 10]);
    assert.deepEqual([v.pretrained.mean, v.pretrained.std], [[0.1307], [0.3081]]);
    const file = fileURLToPath(new URL(`../../${NAMED_VITS["demo-vit-mnist04"].pretrained.file}`, import.meta.url));
    const params = createVitParams(v.config, new Rng(0));
    const report = loadPretrained(params, readSafetensors(file), { ignoreMissing: (k) => k.startsWith("head.") });
    assert.equal(report.missing.length, 0);
    assert.deepEqual(report.mismatched.map((m) => m.key).sort(), ["head.bias", "head.weight"], "only the 5-class head differs from a 10-class model");
  });

  test("tags do not apply to it", () => {
    assert.throws(() => vitVariant("demo-vit-mnist04.x"), /unknown ViT variant/);
  });
});
