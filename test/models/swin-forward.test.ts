/**
 * @file The Swin forward matches an independent PyTorch Swin on a reduced model (fixture from
 * scripts/torch/make_swin_fixture.py), loaded from timm's layout and from Microsoft's original .pth.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { readPth } from "../../src/checkpoint/pth.js";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, type ParameterStore } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import type { BackboneForwardOptions, SiteInfo } from "../../src/models/backbone.js";
import { loadPretrained, type RawTensor } from "../../src/models/load.js";
import { detectSwinLayout, swinCheckpointFilter } from "../../src/models/swin-checkpoint.js";
import { createSwinParams, relativePositionIndex, shiftedWindowMask, swin, swinForward, swinParamSpecs, swinSites, type SwinConfig } from "../../src/models/swin.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

const dir = new URL("../fixtures/swin/", import.meta.url);
const ref = JSON.parse(readFileSync(new URL("logits.json", dir), "utf8")) as {
  config: SwinConfig; input_shape: number[]; logits: number[][]; features: number[][]; logits_without_mask: number[][];
};
const cfg: SwinConfig = { ...ref.config, arch: "swin" };
const input = new Float32Array(readFileSync(new URL("input.bin", dir)).buffer.slice(0));
const B = ref.input_shape[0]!;
const timmFile = () => readSafetensors(new URL("model.safetensors", dir).pathname) as Map<string, RawTensor>;
const originalFile = () => readPth(new URL("model_original.pth", dir).pathname).tensors as Map<string, RawTensor>;

function loaded(tensors: Map<string, RawTensor>, c: SwinConfig = cfg): ParameterStore {
  const ps = createSwinParams(c, new Rng(0));
  const r = loadPretrained(ps, swinCheckpointFilter(tensors).tensors, { strict: true });
  assert.equal(r.loaded.length, ps.list().length);
  return ps;
}

/** Logits (or features) of the fixture input; `opts` may be built from the graph builder (for hooks that add nodes). */
async function run(ps: ParameterStore, opts: BackboneForwardOptions | ((g: GraphBuilder) => BackboneForwardOptions) = {}, c: SwinConfig = cfg): Promise<Float32Array> {
  const g = new GraphBuilder();
  const x = g.input("images", ref.input_shape);
  g.output(swinForward(g, new ParamBinder(g, ps), c, x, typeof opts === "function" ? opts(g) : opts), "out");
  const compiled = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const res = await compiled.run({ images: input });
  await compiled.release();
  return Float32Array.from(res.out!.data as Float32Array);
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("Swin forward parity with an independent PyTorch Swin", () => {
  test("timm layout (safetensors): logits within 1e-4, through a shifted block, a window covering the grid and a merge", async () => {
    const d = maxDiff(await run(loaded(timmFile())), ref.logits.flat());
    console.log(`# reduced Swin (dims ${cfg.embedDim}/${2 * cfg.embedDim}, depths [${cfg.depths}]): max |logits - torch| = ${d.toExponential(2)}`);
    assert.ok(d < 1e-4, `max |logits - torch| = ${d}`);
    // The fixture's mask matters: without it the logits move far more than the tolerance.
    assert.ok(maxDiff(ref.logits.flat(), ref.logits_without_mask.flat()) > 1e-2);
  });

  test("Microsoft's original .pth ({'model': sd}, downsample at the end of each stage, head, buffers): the same logits", async () => {
    const raw = originalFile();
    assert.equal(detectSwinLayout(raw), "original");
    assert.equal(detectSwinLayout(timmFile()), "timm");
    assert.ok([...raw.keys()].some((k) => k.endsWith("attn_mask")) && raw.has("layers.0.downsample.reduction.weight") && raw.has("head.weight"));
    assert.ok(maxDiff(await run(loaded(raw)), ref.logits.flat()) < 1e-4);
  });

  test("features: true returns the mean-pooled, normalised tokens [B, C]", async () => {
    const f = await run(loaded(timmFile()), { features: true });
    assert.equal(f.length, B * 2 * cfg.embedDim);
    assert.ok(maxDiff(f, ref.features.flat()) < 1e-4);
  });
});

describe("Swin checkpoint layouts", () => {
  test("the parameter specs are exactly the timm file's keys and shapes", () => {
    const byName = (a: [string, number[]][]) => a.sort(([x], [y]) => (x < y ? -1 : 1));
    assert.deepEqual(byName(swinParamSpecs(cfg).map((s) => [s.name, s.shape])), byName([...timmFile()].map(([k, v]) => [k, v.shape])));
  });

  test("non-strict load into a model with another class count reports the head as mismatched, nothing else", () => {
    for (const raw of [timmFile(), originalFile()]) {
      const c = { ...cfg, numClasses: 7 };
      const ps = createSwinParams(c, new Rng(0));
      const r = loadPretrained(ps, swinCheckpointFilter(raw).tensors);
      assert.deepEqual([r.missing, r.unexpected], [[], []]);
      assert.deepEqual(r.mismatched.map((m) => m.key), ["head.fc.weight", "head.fc.bias"]);
      assert.throws(() => loadPretrained(createSwinParams(c, new Rng(0)), swinCheckpointFilter(raw).tensors, { strict: true }), /head\.fc\.weight/);
    }
  });

  test("a headless model takes a checkpoint with a head: the head is unexpected, strict refuses it", () => {
    const c = { ...cfg, numClasses: 0 };
    const r = loadPretrained(createSwinParams(c, new Rng(0)), swinCheckpointFilter(originalFile()).tensors);
    assert.deepEqual([r.missing, r.unexpected.sort()], [[], ["head.fc.bias", "head.fc.weight"]]);
  });

  test("the backbone's filter names the layout it read, a forced layout is used as given, an unknown one is one ConfigError", () => {
    assert.equal(swin.checkpointFilter!(originalFile(), cfg, {}).source, "original");
    assert.equal(swin.checkpointFilter!(timmFile(), cfg, {}).source, "timm");
    // Forcing timm on the original file keeps its keys: the load report shows what does not fit.
    const forced = swin.checkpointFilter!(originalFile(), cfg, { source: "timm" });
    const r = loadPretrained(createSwinParams(cfg, new Rng(0)), forced.tensors);
    assert.deepEqual(r.missing, ["layers.1.downsample.norm.weight", "layers.1.downsample.norm.bias", "layers.1.downsample.reduction.weight", "head.fc.weight", "head.fc.bias"]);
    assert.throws(() => swin.checkpointFilter!(timmFile(), cfg, { source: "npz", file: "w.npz" }), /^ConfigError: w\.npz: unknown Swin weight layout "npz"; expected one of timm, original$/);
  });

  test("a key the filter cannot place passes through and is reported as unexpected", () => {
    const raw = timmFile();
    raw.set("layers.9.blocks.0.attn.qkv.weight", { shape: [1], data: new Float32Array(1) });
    const r = loadPretrained(createSwinParams(cfg, new Rng(0)), swinCheckpointFilter(raw).tensors);
    assert.deepEqual(r.unexpected, ["layers.9.blocks.0.attn.qkv.weight"]);
  });
});

describe("Swin geometry", () => {
  test("relative position index equals the authors' construction on a 2x2 window", () => {
    // coords (0,0),(0,1),(1,0),(1,1); index = (dh + 1) * 3 + (dw + 1)
    assert.deepEqual(relativePositionIndex(2), [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
  });

  test("the shifted mask separates the rolled regions: the first window is whole, the last one split four ways", () => {
    const m = shiftedWindowMask(8, 4, 2), N = 16;
    assert.ok(m.subarray(0, N * N).every((v) => v === 0));
    const last = m.subarray(3 * N * N, 4 * N * N);
    // tokens 0 (row 0, col 0) and 3 (row 0, col 3) sit in different column regions; 0 and 5 in the same one.
    assert.equal(last[0 * N + 3], -100);
    assert.equal(last[0 * N + 5], 0);
    assert.equal(new Set(Array.from({ length: N }, (_, i) => last.subarray(i * N, i * N + N).filter((v) => v === 0).length)).size, 1);
  });

  test("Swin-B at 224: 88M parameters, window 7 everywhere but the last stage (7x7 grid: one window, no shift)", () => {
    const b = swin.variants!.resolve("swin_base_patch4_window7_224", {})!;
    assert.equal(b.name, "swin_base_patch4_window7_224.ms_in22k_ft_in1k");
    const n = swinParamSpecs(b.config).reduce((s, p) => s + p.shape.reduce((a, c) => a * c, 1), 0);
    assert.ok(Math.abs(n - 87_768_224) < 1, `Swin-B has ${n} parameters`); // timm: 87.77M
    assert.equal(swin.variants!.resolve("swin_base_patch4_window7_224.ms_in22k", {})!.config.numClasses, 21841);
    assert.equal(swin.describe(b.config), "Swin 128/[2,2,18,2]");
  });
});

describe("Swin sites", () => {
  test("the hook sees every site once, in order, with samples = windows for attention and images for the MLP and head", async () => {
    const seen: [string, number, number][] = [];
    const adapt = (s: SiteInfo, x: Value, y: Value, _f: unknown, samples: number) => {
      assert.equal(x.shape[1], s.nIn, s.path);
      assert.equal(y.shape[1], s.nOut, s.path);
      assert.equal(x.shape[0]! % samples, 0, s.path);
      seen.push([s.path, samples, x.shape[0]! / samples]);
      return y;
    };
    const out = await run(loaded(timmFile()), { adapt });
    assert.ok(maxDiff(out, ref.logits.flat()) < 1e-4);
    assert.deepEqual(seen.map(([p]) => p), swinSites(cfg).map((s) => s.path));
    const byPath = new Map(seen.map(([p, n, rows]) => [p, [n, rows]]));
    // stage 0: 8x8 grid, 4 windows of 16 tokens per image; stage 1: one 4x4 window per image
    assert.deepEqual(byPath.get("layers.0.blocks.1.attn.k"), [B * 4, 16]);
    assert.deepEqual(byPath.get("layers.0.blocks.1.mlp.fc1"), [B, 64]);
    assert.deepEqual(byPath.get("layers.1.blocks.0.attn.proj"), [B, 16]);
    assert.deepEqual(byPath.get("head.fc"), [B, 1]);
    assert.deepEqual(swin.siteWeight(cfg, swinSites(cfg).find((s) => s.path === "layers.1.blocks.1.attn.v")!),
      { weight: "layers.1.blocks.1.attn.qkv.weight", bias: "layers.1.blocks.1.attn.qkv.bias", rowOffset: 64 });
  });

  test("rebuilding every site from the frozen layer it offers gives the same logits (q, k, v: rows of the fused qkv)", async () => {
    let rebuilt = 0;
    const out = await run(loaded(timmFile()), (g) => ({
      adapt: (_s, x, _y, frozen) => {
        // A wrong row offset or weight name would change the logits.
        const { weight, bias, rows } = frozen();
        rebuilt++;
        const w = g.Slice(weight!, [rows[0]], [rows[1]], [0]), b = bias && g.Slice(bias, [rows[0]], [rows[1]], [0]);
        return g.Gemm(x, w, b, { transB: 1 });
      },
    }));
    assert.equal(rebuilt, swinSites(cfg).length);
    assert.ok(maxDiff(out, ref.logits.flat()) < 1e-4);
  });
});
