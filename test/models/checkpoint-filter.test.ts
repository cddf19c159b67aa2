/** @file Foreign checkpoint layouts map to timm keys exactly: Google npz (per-head qkv), big_vision scan layout, MAE, MoCo v3. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FormatError } from "../../src/errors.js";
import { checkpointFilter, detectCheckpointSource, permute } from "../../src/models/checkpoint-filter.js";
import type { RawTensor } from "../../src/models/load.js";
import { resizeGrid } from "../../src/models/pos-embed.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { Rng } from "../../src/random.js";

const cfg: VitConfig = { imgSize: 8, patchSize: 4, inChans: 3, numClasses: 5, embedDim: 12, depth: 2, numHeads: 3, mlpRatio: 4, qkvBias: true, eps: 1e-6 };
const D = cfg.embedDim, H = cfg.numHeads, hd = D / H, p = cfg.patchSize, C = cfg.inChans;

/** A timm state dict with distinct random values everywhere (LN and biases included). */
function timmDict(): Map<string, RawTensor> {
  const rng = new Rng(11);
  return new Map(createVitParams(cfg, rng).list().map((q) => [q.name, { shape: [...q.shape], data: q.data.map(() => rng.normal()) }]));
}

const t = (shape: number[], f: (...i: number[]) => number): RawTensor => {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < data.length; o++) {
    data[o] = f(...idx);
    for (let a = shape.length - 1; a >= 0 && ++idx[a]! === shape[a]; a--) idx[a] = 0;
  }
  return { shape, data };
};

/** Writes a timm dict in Google's layout, element by element (independent of the code under test). */
function toNpz(sd: Map<string, RawTensor>, { stacked = false } = {}): Map<string, RawTensor> {
  const g = (k: string) => sd.get(k)!.data;
  const out = new Map<string, RawTensor>();
  const pre = stacked ? "params/" : "";
  const pw = g("patch_embed.proj.weight"); // [D, C, p, p] -> [p, p, C, D]
  out.set(`${pre}embedding/kernel`, t([p, p, C, D], (y, x, c, o) => pw[((o * C + c) * p + y) * p + x]!));
  out.set(`${pre}embedding/bias`, sd.get("patch_embed.proj.bias")!);
  out.set(`${pre}cls`, sd.get("cls_token")!);
  out.set(stacked ? `${pre}pos_embedding` : "Transformer/posembed_input/pos_embedding", sd.get("pos_embed")!);
  out.set(`${pre}Transformer/encoder_norm/scale`, sd.get("norm.weight")!);
  out.set(`${pre}Transformer/encoder_norm/bias`, sd.get("norm.bias")!);
  const hw = g("head.weight");
  out.set(`${pre}head/kernel`, t([D, cfg.numClasses], (i, o) => hw[o * D + i]!));
  out.set(`${pre}head/bias`, sd.get("head.bias")!);
  const [mha, mlp, ln2] = stacked ? [0, 0, 1] : [1, 3, 2];
  const blocks = Array.from({ length: cfg.depth }, (_, b) => {
    const m = new Map<string, RawTensor>();
    const k = (s: string) => g(`blocks.${b}.${s}`);
    m.set("LayerNorm_0/scale", { shape: [D], data: k("norm1.weight") });
    m.set("LayerNorm_0/bias", { shape: [D], data: k("norm1.bias") });
    ["query", "key", "value"].forEach((n, part) => {
      m.set(`MultiHeadDotProductAttention_${mha}/${n}/kernel`, t([D, H, hd], (i, h, d) => k("attn.qkv.weight")[(part * D + h * hd + d) * D + i]!));
      m.set(`MultiHeadDotProductAttention_${mha}/${n}/bias`, t([H, hd], (h, d) => k("attn.qkv.bias")[part * D + h * hd + d]!));
    });
    m.set(`MultiHeadDotProductAttention_${mha}/out/kernel`, t([H, hd, D], (h, d, o) => k("attn.proj.weight")[o * D + h * hd + d]!));
    m.set(`MultiHeadDotProductAttention_${mha}/out/bias`, { shape: [D], data: k("attn.proj.bias") });
    m.set(`LayerNorm_${ln2}/scale`, { shape: [D], data: k("norm2.weight") });
    m.set(`LayerNorm_${ln2}/bias`, { shape: [D], data: k("norm2.bias") });
    const hid = D * cfg.mlpRatio;
    m.set(`MlpBlock_${mlp}/Dense_0/kernel`, t([D, hid], (i, o) => k("mlp.fc1.weight")[o * D + i]!));
    m.set(`MlpBlock_${mlp}/Dense_0/bias`, { shape: [hid], data: k("mlp.fc1.bias") });
    m.set(`MlpBlock_${mlp}/Dense_1/kernel`, t([hid, D], (i, o) => k("mlp.fc2.weight")[o * hid + i]!));
    m.set(`MlpBlock_${mlp}/Dense_1/bias`, { shape: [D], data: k("mlp.fc2.bias") });
    return m;
  });
  if (stacked) {
    for (const [name, first] of blocks[0]!) {
      const data = new Float32Array(first.data.length * cfg.depth);
      blocks.forEach((m, b) => data.set(m.get(name)!.data, b * first.data.length));
      out.set(`${pre}Transformer/encoderblock/${name}`, { shape: [cfg.depth, ...first.shape], data });
    }
  } else {
    blocks.forEach((m, b) => { for (const [name, v] of m) out.set(`Transformer/encoderblock_${b}/${name}`, v); });
  }
  return out;
}

function assertSameDict(got: Map<string, RawTensor>, want: Map<string, RawTensor>) {
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, w] of want) {
    const g = got.get(k)!;
    assert.deepEqual(g.shape, w.shape, k);
    assert.deepEqual(Array.from(g.data), Array.from(w.data), k);
  }
}

describe("checkpointFilter: Google npz", () => {
  test("per-head query/key/value kernels merge back into the fused qkv exactly, and every key maps", () => {
    const sd = timmDict();
    const npz = toNpz(sd);
    npz.set("pre_logits/kernel", { shape: [D, D], data: new Float32Array(D * D) });
    assertSameDict(checkpointFilter(npz, cfg, "npz"), sd);
  });

  test("the big_vision scan layout (stacked blocks under params/) maps the same", () => {
    const sd = timmDict();
    assertSameDict(checkpointFilter(toNpz(sd, { stacked: true }), cfg, "npz"), sd);
  });

  test("unknown keys pass through to be reported as unexpected; a non-ViT npz is refused", () => {
    const npz = toNpz(timmDict());
    npz.set("Transformer/extra/scale", { shape: [1], data: new Float32Array(1) });
    assert.ok(checkpointFilter(npz, cfg, "npz").has("Transformer/extra/scale"));
    assert.throws(() => checkpointFilter(new Map([["foo", { shape: [1], data: new Float32Array(1) }]]), cfg, "npz", { file: "x.npz" }),
      (e: Error) => e instanceof FormatError && /x.npz: not a ViT npz checkpoint/.test(e.message));
  });

  test("pos_embed from a smaller grid is resampled bilinearly (timm's npz path), cls row kept", () => {
    const sd = timmDict();
    const big: VitConfig = { ...cfg, imgSize: 12 }; // grid 2x2 -> 3x3
    const out = checkpointFilter(toNpz(sd), big, "npz").get("pos_embed")!;
    assert.deepEqual(out.shape, [1, 10, D]);
    const src = sd.get("pos_embed")!.data;
    assert.deepEqual(Array.from(out.data.subarray(0, D)), Array.from(src.subarray(0, D)));
    const want = resizeGrid(src.subarray(D), [2, 2], D, [3, 3], { interpolation: "bilinear", antialias: false });
    assert.deepEqual(Array.from(out.data.subarray(D)), Array.from(want));
  });
});

describe("checkpointFilter: PyTorch layouts", () => {
  test("timm: pre_logits dropped, a flattened 'model.' wrapper unwrapped, pos_embed resampled bicubic+antialias", () => {
    const sd = timmDict();
    const wrapped = new Map([...sd].map(([k, v]) => [`model.${k}`, v]));
    wrapped.set("model.pre_logits.fc.weight", { shape: [D, D], data: new Float32Array(D * D) });
    assertSameDict(checkpointFilter(wrapped, cfg, "timm"), sd);
    const big = checkpointFilter(sd, { ...cfg, imgSize: 12 }, "timm").get("pos_embed")!;
    const want = resizeGrid(sd.get("pos_embed")!.data.subarray(D), [2, 2], D, [3, 3], { interpolation: "bicubic", antialias: true });
    assert.deepEqual(Array.from(big.data.subarray(D)), Array.from(want));
  });

  test("MAE: decoder and mask_token are dropped, the encoder keeps its names", () => {
    const sd = timmDict();
    sd.delete("head.weight"); sd.delete("head.bias");
    const mae = new Map(sd);
    mae.set("mask_token", { shape: [1, 1, 8], data: new Float32Array(8) });
    mae.set("decoder_embed.weight", { shape: [8, D], data: new Float32Array(8 * D) });
    mae.set("decoder_blocks.0.norm1.weight", { shape: [8], data: new Float32Array(8) });
    assertSameDict(checkpointFilter(mae, cfg, "mae"), sd);
  });

  for (const prefix of ["base_encoder.", "module.base_encoder."]) {
    test(`MoCo v3 ("${prefix}"): prefix stripped, momentum encoder, predictor and projection head dropped`, () => {
      const sd = timmDict();
      sd.delete("head.weight"); sd.delete("head.bias");
      const moco = new Map<string, RawTensor>();
      for (const [k, v] of sd) {
        moco.set(`${prefix}${k}`, v);
        moco.set(`${prefix.replace("base_", "momentum_")}${k}`, v);
      }
      moco.set(`${prefix}head.0.weight`, { shape: [16, D], data: new Float32Array(16 * D) });
      moco.set(`${prefix}head.weight`, { shape: [256, D], data: new Float32Array(256 * D) });
      moco.set(`${prefix.replace("base_encoder", "predictor")}0.weight`, { shape: [4, 4], data: new Float32Array(16) });
      assertSameDict(checkpointFilter(moco, cfg, "mocov3"), sd);
      assert.equal(detectCheckpointSource(moco), "mocov3");
    });
  }

  test("detectCheckpointSource tells the layouts apart by key names", () => {
    const sd = timmDict();
    assert.equal(detectCheckpointSource(sd), "timm");
    assert.equal(detectCheckpointSource(toNpz(sd)), "npz");
    assert.equal(detectCheckpointSource(new Map([...sd, ["mask_token", sd.get("cls_token")!]])), "mae");
    assert.equal(detectCheckpointSource(new Map([["x", sd.get("cls_token")!]])), null);
  });
});

test("permute transposes like numpy", () => {
  const x = t([2, 3, 4], (a, b, c) => a * 100 + b * 10 + c);
  const y = permute(x, [2, 0, 1]);
  assert.deepEqual(y.shape, [4, 2, 3]);
  assert.equal(y.data[(3 * 2 + 1) * 3 + 2], 123);
});
