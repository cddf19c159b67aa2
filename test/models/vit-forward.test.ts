/** @file The ViT forward matches the PyTorch reference on a reduced model (fixture from scripts/torch/make_vit_fixture.py). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import { loadPretrained } from "../../src/models/load.js";
import { createVitParams, forwardFeatures, forwardHead, vitForward, vitSites, type SiteHook, type VitConfig } from "../../src/models/vit.js";
import type { SiteInfo } from "../../src/peft/method.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

const dir = new URL("../fixtures/vit/", import.meta.url);
const ref = JSON.parse(readFileSync(new URL("logits.json", dir), "utf8")) as { config: VitConfig; input_shape: number[]; logits: number[][] };
const cfg = ref.config;
const input = new Float32Array(readFileSync(new URL("input.bin", dir)).buffer.slice(0));
const B = ref.input_shape[0]!;

function fixtureParams(): ParameterStore {
  const ps = createVitParams(cfg, new Rng(0));
  const report = loadPretrained(ps, readSafetensors(new URL("model.safetensors", dir).pathname), { strict: true });
  assert.equal(report.loaded.length, ps.list().length);
  return ps;
}

async function run(build: (g: GraphBuilder, b: ParamBinder, x: Value) => Value | Value[], ps = fixtureParams()) {
  const g = new GraphBuilder();
  const x = g.input("images", ref.input_shape);
  const outs = [build(g, new ParamBinder(g, ps), x)].flat();
  outs.forEach((v, i) => g.output(v, `out${i}`));
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const res = await c.run({ images: input });
  await c.release();
  return { g, outs: outs.map((_, i) => res[`out${i}`]!.data as Float32Array) };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("ViT forward parity with the PyTorch reference", () => {
  test("logits agree within 1e-4", async () => {
    const { g, outs: [logits] } = await run((g, b, x) => vitForward(g, b, cfg, x));
    const d = maxDiff(logits!, ref.logits.flat());
    console.log(`# reduced ViT (dim ${cfg.embedDim}, depth ${cfg.depth}): max |logits - torch| = ${d.toExponential(2)}`);
    assert.ok(d < 1e-4, `max |logits - torch| = ${d}`);
    assert.ok(g.nodes.every((n) => !["Conv", "Identity"].includes(n.type)), "patch embedding is a MatMul and no copies are made");
  });

  test("forwardHead(forwardFeatures(x)) gives the same logits, and features are [B, T, D]", async () => {
    let shape: readonly number[] = [];
    const { outs: [logits] } = await run((g, b, x) => {
      const t = forwardFeatures(g, b, cfg, x);
      shape = t.shape;
      return forwardHead(g, b, cfg, t);
    });
    assert.deepEqual(shape, [B, (cfg.imgSize / cfg.patchSize) ** 2 + 1, cfg.embedDim]);
    assert.ok(maxDiff(logits!, ref.logits.flat()) < 1e-4);
  });

  test("features: true returns the pooled class token [B, D]", async () => {
    const { outs: [f] } = await run((g, b, x) => vitForward(g, b, cfg, x, { features: true }));
    assert.equal(f!.length, B * cfg.embedDim);
  });
});

describe("site hooks", () => {
  test("are called once per site, in forward order, with x [rows, nIn] and y [rows, nOut]", async () => {
    const seen: SiteInfo[] = [];
    const hook: SiteHook = (s, x, y) => {
      seen.push(s);
      assert.equal(x.shape[x.rank - 1], s.nIn, s.path);
      assert.equal(y.shape[y.rank - 1], s.nOut, s.path);
      return y;
    };
    const { outs: [logits] } = await run((g, b, x) => vitForward(g, b, cfg, x, { adapt: hook }));
    assert.deepEqual(seen.map((s) => s.path), vitSites(cfg).map((s) => s.path));
    assert.ok(maxDiff(logits!, ref.logits.flat()) < 1e-4, "an identity hook changes nothing");
  });

  test("the q, k and v sites see norm1's output and the matching third of the fused qkv", async () => {
    const ps = fixtureParams();
    const grab: Record<string, Value> = {};
    const hook: SiteHook = (s, x, y) => {
      if (s.block === 0 && s.kind !== "proj" && s.path.includes(".attn.")) { grab[`${s.kind}.x`] = x; grab[`${s.kind}.y`] = y; }
      return y;
    };
    // x is one value for all three sites (one graph output), y differs per site
    const names = ["q.x", "q.y", "k.y", "v.y"];
    const { outs } = await run((g, b, x) => {
      vitForward(g, b, cfg, x, { adapt: hook });
      assert.ok(grab["q.x"] === grab["k.x"] && grab["k.x"] === grab["v.x"], "q, k and v share norm1's output");
      return names.map((n) => grab[n]!);
    }, ps);
    const D = cfg.embedDim, w = ps.get("blocks.0.attn.qkv.weight").data, bias = ps.get("blocks.0.attn.qkv.bias").data;
    const x = outs[0]!, rows = x.length / D;
    ["q", "k", "v"].forEach((name, part) => {
      const want = new Float64Array(rows * D);
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < D; o++) {
          let s = bias[part * D + o]!;
          for (let i = 0; i < D; i++) s += x[r * D + i]! * w[(part * D + o) * D + i]!;
          want[r * D + o] = s;
        }
      }
      assert.ok(maxDiff(outs[1 + part]!, want) < 1e-4, `${name} = x W[${part}D:${part + 1}D]^T + b`);
    });
  });

  test("a hook's output replaces the site's output (head + 1 shifts every logit by 1)", async () => {
    const { outs: [logits] } = await run((g, b, x) =>
      vitForward(g, b, cfg, x, { adapt: (s, _x, y) => (s.path === "head" ? g.Add(y, g.scalar(1)) : y) }));
    assert.ok(maxDiff(logits!, ref.logits.flat().map((v) => v + 1)) < 1e-4);
  });
});

describe("ViT gradients", () => {
  test("reach cls_token, the head and a hook's parameter; frozen weights get no gradient nodes; match central differences", async () => {
    const ps = fixtureParams();
    for (const n of ["cls_token", "head.weight"]) ps.get(n).trainable = true;
    const D = cfg.embedDim;
    ps.add("blocks.1.attn.v.test_delta", [D], Float32Array.from({ length: D }, (_, i) => 0.01 * Math.sin(i)), { trainable: true });
    const g = new GraphBuilder();
    const bind = new ParamBinder(g, ps);
    const images = g.input("images", ref.input_shape);
    const logits = vitForward(g, bind, cfg, images, {
      adapt: (s, _x, y) => (s.path === "blocks.1.attn.v" ? g.Add(y, bind.get("blocks.1.attn.v.test_delta")) : y),
    });
    const r = g.constant(Array.from({ length: B * cfg.numClasses }, (_, i) => Math.cos(i)), logits.shape);
    const loss = g.output(g.ReduceSum(g.Mul(logits, r), [0, 1], 0), "loss");
    const leaves = bind.boundTrainable().map((e) => e.value);
    assert.deepEqual(leaves.map((v) => v.name).sort(), ["blocks.1.attn.v.test_delta", "cls_token", "head.weight"]);
    const grads = grad(g, loss, leaves);
    grads.forEach((d) => g.output(d));
    const gradNodes = g.nodes.filter((n) => n.name.includes("_grad"));
    // A Gemm's rule emits dX as "<layer>/Gemm_grad/Gemm" and dW as ".../Gemm_1": frozen layers must have no dW.
    const dW = gradNodes.filter((n) => n.type === "Gemm" && n.name.endsWith("Gemm_grad/Gemm_1")).map((n) => n.name);
    assert.deepEqual(dW, ["head/Gemm_grad/Gemm_1"], "weight gradients only for the trainable head");
    assert.ok(!gradNodes.some((n) => n.name.startsWith("patch_embed")), "nothing below the patch embedding is differentiated");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const feeds: Record<string, Float32Array> = { images: input };
    for (const v of leaves) feeds[v.name] = Float32Array.from(ps.get(v.name).data);
    const res = await c.run(feeds);
    const lossAt = async () => (await c.run(feeds, ["loss"])).loss!.data[0] as number;
    const eps = 1e-2;
    for (const [k, v] of leaves.entries()) {
      const an = res[grads[k]!.name]!.data as Float32Array;
      for (const j of [0, 7, D - 1]) {
        const arr = feeds[v.name]!, x0 = arr[j]!;
        arr[j] = x0 + eps; const lp = await lossAt();
        arr[j] = x0 - eps; const lm = await lossAt();
        arr[j] = x0;
        const num = (lp - lm) / (2 * eps);
        assert.ok(Math.abs(an[j]! - num) <= 2e-3 + 2e-2 * Math.abs(num), `${v.name}[${j}]: autodiff ${an[j]} vs central difference ${num}`);
      }
    }
    await c.release();
  });
});

describe("stochastic depth", () => {
  async function logitsWith(rate: number, seed: bigint) {
    const ps = fixtureParams();
    const g = new GraphBuilder();
    const x = g.input("images", ref.input_shape);
    const s = g.input("seed", [], "int64");
    g.output(vitForward(g, new ParamBinder(g, ps), cfg, x, { dropPath: { rate, seed: s } }), "out");
    g.output(g.Identity(s), "seed_out"); // keeps the seed an input even when unused
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const out = (await c.run({ images: input, seed: BigInt64Array.from([seed]) })).out!.data as Float32Array;
    await c.release();
    return { out, dropNodes: g.nodes.filter((n) => n.name.includes("drop_path")).length };
  }

  test("rate 0 adds nothing; rate > 0 changes the logits only through blocks past the first, the same way for the same seed", async () => {
    const off = await logitsWith(0, 1n);
    assert.equal(off.dropNodes, 0);
    assert.ok(maxDiff(off.out, ref.logits.flat()) < 1e-4);
    const a = await logitsWith(0.9, 7n), b = await logitsWith(0.9, 7n);
    assert.ok(a.dropNodes > 0);
    assert.equal(maxDiff(a.out, b.out), 0, "a seed reproduces its masks");
    const seeds = await Promise.all([1n, 2n, 3n, 4n, 5n].map((s) => logitsWith(0.9, s)));
    assert.ok(seeds.some((r) => maxDiff(r.out, ref.logits.flat()) > 1e-3), "some seed drops a branch");
  });
});
