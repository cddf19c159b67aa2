/**
 * @file ConvNeXt checkpoint layouts: the fixture's timm keys written out in the SNELL authors' and in
 * Hugging Face transformers' names (maps written here from those module trees, not from the filter)
 * come back to the same tensors; wrappers, 1x1-conv fc weights, forced and unknown layouts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { ConfigError } from "../../src/errors.js";
import { convnextCheckpointFilter, detectConvNextLayout } from "../../src/models/convnext-checkpoint.js";
import { convnextVariant } from "../../src/models/convnext-variants.js";
import type { RawTensor } from "../../src/models/load.js";

const timm = readSafetensors(new URL("../fixtures/convnext/model.safetensors", import.meta.url).pathname) as ReadonlyMap<string, RawTensor>;
const cfg = { ...convnextVariant("convnext_test").config, numClasses: 5 };

/** model/convnext_timm.py's PatchEmbed (proj, norm) and Downsample (norm, proj); the rest as timm. */
function toSnell(k: string): string {
  return k.replace(/^stem\.0\./, "stem.proj.").replace(/^stem\.1\./, "stem.norm.")
    .replace(/\.downsample\.0\./, ".downsample.norm.").replace(/\.downsample\.1\./, ".downsample.proj.");
}

/** transformers' ConvNextForImageClassification: convnext.{embeddings, encoder.stages.N.{downsampling_layer, layers.M}, layernorm}, classifier. */
function toHf(k: string): string {
  const blockParts: Record<string, string> = { gamma: "layer_scale_parameter", conv_dw: "dwconv", norm: "layernorm", "mlp.fc1": "pwconv1", "mlp.fc2": "pwconv2" };
  let m = /^stages\.(\d+)\.blocks\.(\d+)\.(gamma|conv_dw|norm|mlp\.fc1|mlp\.fc2)(.*)$/.exec(k);
  if (m) return `convnext.encoder.stages.${m[1]}.layers.${m[2]}.${blockParts[m[3]!]}${m[4]}`;
  m = /^stages\.(\d+)\.downsample\.(\d)\.(.*)$/.exec(k);
  if (m) return `convnext.encoder.stages.${m[1]}.downsampling_layer.${m[2]}.${m[3]}`;
  const top: Record<string, string> = { "stem.0": "convnext.embeddings.patch_embeddings", "stem.1": "convnext.embeddings.layernorm", "head.norm": "convnext.layernorm", "head.fc": "classifier" };
  const [, mod, leaf] = /^(.*)\.(weight|bias)$/.exec(k)!;
  return `${top[mod!]}.${leaf}`;
}

const renamed = (f: (k: string) => string) => new Map([...timm].map(([k, v]) => [f(k), v]));

describe("ConvNeXt checkpoint layouts", () => {
  for (const [layout, f] of [["snell", toSnell], ["hf", toHf]] as const) {
    test(`${layout} keys are detected and map back to timm's, tensor for tensor`, () => {
      const raw = renamed(f);
      assert.notDeepEqual([...raw.keys()].sort(), [...timm.keys()].sort());
      assert.equal(detectConvNextLayout(raw), layout);
      const { tensors, source } = convnextCheckpointFilter(raw, cfg);
      assert.equal(source, layout);
      assert.deepEqual([...tensors.keys()].sort(), [...timm.keys()].sort());
      for (const [k, v] of timm) assert.equal(tensors.get(k)!.data, v.data, k);
    });
  }

  test("timm keys pass unchanged; 'model.' / 'module.' wrappers are stripped", () => {
    const wrapped = new Map([...timm].map(([k, v]) => [`model.module.${k}`, v]));
    const { tensors, source } = convnextCheckpointFilter(wrapped, cfg);
    assert.equal(source, "timm");
    assert.deepEqual([...tensors.keys()], [...timm.keys()]);
  });

  test("fc weights stored as 1x1 convs [out, in, 1, 1] become [out, in]", () => {
    const w = timm.get("stages.0.blocks.0.mlp.fc1.weight")!;
    const raw = new Map(timm);
    raw.set("stages.0.blocks.0.mlp.fc1.weight", { shape: [...w.shape, 1, 1], data: w.data });
    assert.deepEqual(convnextCheckpointFilter(raw, cfg).tensors.get("stages.0.blocks.0.mlp.fc1.weight")!.shape, w.shape);
  });

  test("a forced layout wins over detection; an unknown one is a one-line ConfigError naming the valid ones", () => {
    const { tensors, source } = convnextCheckpointFilter(renamed(toSnell), cfg, { source: "timm" });
    assert.equal(source, "timm");
    assert.ok(tensors.has("stem.proj.weight"), "nothing renamed, so the load report will name these keys");
    assert.throws(() => convnextCheckpointFilter(timm, cfg, { source: "npz", file: "w.pth" }),
      (e: Error) => e instanceof ConfigError && /^w\.pth: unknown ConvNeXt weight layout "npz"; expected one of timm, fb, snell, hf$/.test(e.message));
  });
});
