/** @file loadPretrained reports missing, unexpected and mismatched keys like timm's strict=False; strict mode refuses. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { formatLoadReport, loadPretrained, type RawTensor } from "../../src/models/load.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { Rng } from "../../src/random.js";

const cfg: VitConfig = { imgSize: 8, patchSize: 4, inChans: 3, numClasses: 10, embedDim: 8, depth: 1, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };

/** A checkpoint from a 1000-class model: head shapes differ, one key lost, one foreign key added. */
function checkpoint(): Map<string, RawTensor> {
  const src = createVitParams({ ...cfg, numClasses: 1000 }, new Rng(5));
  const m = new Map(src.list().map((p) => [p.name, { shape: [...p.shape], data: p.data.map((v, i) => v + i + 1) }]));
  m.delete("blocks.0.norm2.bias");
  m.set("pre_logits.fc.weight", { shape: [8, 8], data: new Float32Array(64) });
  return m;
}

describe("loadPretrained", () => {
  test("loads what fits and reports missing, unexpected and mismatched keys", () => {
    const ps = createVitParams(cfg, new Rng(1));
    const headBefore = ps.get("head.weight").data;
    const ck = checkpoint();
    const r = loadPretrained(ps, ck);
    assert.deepEqual(r.missing, ["blocks.0.norm2.bias"]);
    assert.deepEqual(r.unexpected, ["pre_logits.fc.weight"]);
    assert.deepEqual(r.mismatched, [
      { key: "head.weight", expected: [10, 8], got: [1000, 8] },
      { key: "head.bias", expected: [10], got: [1000] },
    ]);
    assert.equal(r.loaded.length, ps.list().length - 3);
    assert.equal(ps.get("blocks.0.attn.qkv.weight").data, ck.get("blocks.0.attn.qkv.weight")!.data, "taken without a copy");
    assert.equal(ps.get("head.weight").data, headBefore, "the fresh head is kept");
    assert.match(formatLoadReport(r), /shape mismatch for head.weight: checkpoint \[1000, 8\], model \[10, 8\] \(kept the model's\)/);
  });

  test("ignoreMissing leaves adapter tensors out of the missing list", () => {
    const ps = createVitParams(cfg, new Rng(1));
    ps.add("blocks.0.attn.q.snell_A", [2, 8, 4], new Float32Array(64), { trainable: true });
    const r = loadPretrained(ps, checkpoint(), { ignoreMissing: (n) => n.split(".").at(-1)!.startsWith("snell_") });
    assert.deepEqual(r.missing, ["blocks.0.norm2.bias"]);
  });

  test("strict mode throws a ConfigError listing every problem and loads nothing", () => {
    const ps = createVitParams(cfg, new Rng(1));
    const before = ps.get("blocks.0.attn.qkv.weight").data;
    assert.throws(() => loadPretrained(ps, checkpoint(), { strict: true }), (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^loadPretrained \(strict\): checkpoint does not match the model/);
      assert.match(e.message, /missing keys \(1\): blocks\.0\.norm2\.bias/);
      assert.match(e.message, /unexpected keys \(1\): pre_logits\.fc\.weight/);
      assert.match(e.message, /shape mismatch for head\.bias: checkpoint \[1000\], model \[10\]/);
      return true;
    });
    assert.equal(ps.get("blocks.0.attn.qkv.weight").data, before);
  });

  test("strict mode passes on an exact match", () => {
    const ps = createVitParams(cfg, new Rng(1));
    const src = createVitParams(cfg, new Rng(2));
    const r = loadPretrained(ps, new Map(src.list().map((p) => [p.name, { shape: [...p.shape], data: p.data }])), { strict: true });
    assert.equal(r.loaded.length, ps.list().length);
  });
});
