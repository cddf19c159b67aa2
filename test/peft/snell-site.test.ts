/**
 * @file SNELL's fused site (src/peft/snell/site.ts) against the autodiff path: the same outputs and
 * gradients within float32 rounding, folded or not; no [P, n, m] tensor anywhere; the backward reads
 * no large forward value; folded into a ViT, the adapted layers' frozen products are gone.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { numel } from "../../src/ir/dtype.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { liveNodes } from "../../src/onnx/writer.js";
import { applyAdapters } from "../../src/peft/apply.js";
import type { SiteInfo } from "../../src/peft/method.js";
import { SNELL_DEFAULTS, snell, type SnellConfig } from "../../src/peft/snell/index.js";
import { siteBlocking } from "../../src/peft/snell/site.js";
import { thresholdOf } from "../../src/peft/snell/threshold-graph.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

// 320 x 256 = 81920 entries: above the size the rematerialiser keeps, and on the sample-bracket path.
const nIn = 320, nOut = 256, M = 6;
const site: SiteInfo = { path: "blocks.0.mlp.fc1", nIn, nOut, block: 0, kind: "fc1" };

interface Built { out: Float32Array; grads: Float32Array[]; g: GraphBuilder; nForward: number }

/** One site: loss = sum(out * r) for a fixed r; gradients wrt x, the factors (and c, W, b when trained). */
async function build(opts: { recompute: boolean; fold: boolean; learnableC?: boolean; trainW?: boolean; third?: boolean }): Promise<Built> {
  const cfg: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, sparsity: 0.8, dropout: 0, dropPath: 0, recompute: opts.recompute, learnableC: opts.learnableC ?? false };
  const ps = new ParameterStore();
  const rng = new Rng(3);
  snell.init(ps, site, cfg, rng);
  // `third`: the site is the middle third of a fused layer, as k of timm's qkv.
  const rowsAll = opts.third ? 3 * nOut : nOut, rows = opts.third ? ([nOut, 2 * nOut] as const) : ([0, nOut] as const);
  ps.add("w", [rowsAll, nIn], Float32Array.from({ length: rowsAll * nIn }, () => rng.normal() * 0.05), { trainable: opts.trainW ?? false });
  ps.add("b", [rowsAll], Float32Array.from({ length: rowsAll }, () => rng.normal() * 0.1), { trainable: opts.trainW ?? false });
  const g = new GraphBuilder();
  const bind = new ParamBinder(g, ps);
  const x = g.input("x", [M, nIn]);
  const W = bind.get("w"), b = bind.get("b");
  const y = g.Slice(g.Gemm(x, W, b, { transB: 1 }), [rows[0]], [rows[1]], [1]);
  const frozen = opts.fold ? () => ({ weight: W, bias: b, rows }) : undefined;
  const out = snell.adapt({ g, bind, site, x, y, frozen, samples: M, train: true, runInput: () => { throw new Error("unexpected run input"); } }, cfg);
  const r = g.constant(Array.from({ length: M * nOut }, (_, i) => Math.cos(i * 0.11)), [M, nOut]);
  const loss = g.ReduceSum(g.Mul(out, r), [0, 1], 0);
  const wrt = [x, ...ps.trainable().map((p) => bind.get(p.name))];
  const nForward = g.nodes.length;
  const grads = grad(g, loss, wrt);
  grads.forEach((d) => g.output(d));
  g.output(out, "out");
  const feeds: Record<string, Float32Array> = { x: Float32Array.from({ length: M * nIn }, (_, i) => Math.sin(i * 0.37)) };
  for (const p of ps.trainable()) feeds[p.name] = p.data;
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const res = await c.run(feeds);
  await c.release();
  const get = (name: string) => Float32Array.from(res[name]!.data as Float32Array);
  return { out: get("out"), grads: grads.map((d) => get(d.name)), g, nForward };
}

function assertClose(ours: Float32Array, ref: Float32Array, what: string, rtol = 2e-5): void {
  let scale = 0, err = 0;
  for (let i = 0; i < ref.length; i++) scale = Math.max(scale, Math.abs(ref[i]!));
  for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(ours[i]! - ref[i]!));
  assert.ok(err <= rtol * scale, `${what}: max |ours - autodiff| = ${err} over max |autodiff| ${scale}`);
}

for (const [title, opts] of [
  ["added to y", { fold: false }],
  ["folded into the frozen layer", { fold: true }],
  ["folded, with learnable c and a trained frozen layer", { fold: true, learnableC: true, trainW: true }],
  ["folded into a third of a fused layer that is trained", { fold: true, trainW: true, third: true }],
] as const) {
  test(`the fused SNELL site ${title} matches the autodiff path within float32 rounding`, async () => {
    const ref = await build({ ...opts, recompute: false });
    const ours = await build({ ...opts, recompute: true });
    assert.ok(ours.g.nodes.some((n) => n.type === "CustomGrad"), "the fused op was not used");
    assert.ok(!ref.g.nodes.some((n) => n.type === "CustomGrad"), "the reference used the fused op");
    assertClose(ours.out, ref.out, "output");
    assert.equal(ours.grads.length, ref.grads.length);
    ours.grads.forEach((d, k) => assertClose(d, ref.grads[k]!, `gradient ${k}`));
  });
}

for (const [title, opts] of [
  ["added to y", { fold: false }],
  ["folded, with learnable c and a trained frozen layer", { fold: true, learnableC: true, trainW: true }],
  ["folded into a third of a fused layer that is trained", { fold: true, trainW: true, third: true }],
] as const) {
  test(`the fused SNELL site ${title}, its backward in row blocks, matches the autodiff path`, async () => {
    const ref = await build({ ...opts, recompute: false });
    const saved = { ...siteBlocking };
    // Three uneven blocks (86, 86, 84 rows of 256).
    Object.assign(siteBlocking, { blockFrom: 1, blockSize: Math.ceil((nIn * nOut) / 3) });
    const ours = await build({ ...opts, recompute: true }).finally(() => Object.assign(siteBlocking, saved));
    // Each block recomputes its rows of K ([rows, nIn]; whole-matrix values are [nOut, nIn]).
    const blockK = liveNodes(ours.g).flatMap((n) => n.outputs).filter((v) => v.rank === 2 && v.shape[1] === nIn && (v.shape[0] === 86 || v.shape[0] === 84));
    assert.ok(blockK.length > 0, "no row block in the backward");
    assertClose(ours.out, ref.out, "output");
    ours.grads.forEach((d, k) => assertClose(d, ref.grads[k]!, `gradient ${k}`));
  });
}

test("the fused site holds no [P, nOut, nIn] tensor, and its backward reads no large forward value", async () => {
  const { g, nForward } = await build({ recompute: true, fold: true, third: true });
  const live = liveNodes(g);
  const perGroup = live.flatMap((n) => n.outputs).filter((v) => v.rank === 3 && numel(v.shape) >= 2 * nIn * nOut);
  assert.deepEqual(perGroup.map((v) => `${v.name} [${v.shape.join(", ")}]`), []);
  const forward = new Set(g.nodes.slice(0, nForward));
  const bigForward = new Set([...forward].flatMap((n) => n.outputs).filter((v) => numel(v.shape) > 65536));
  const offenders = live.filter((n) => !forward.has(n) && n.inputs.some((v) => v && bigForward.has(v)));
  assert.deepEqual(offenders.map((n) => n.name), []);
  // The autodiff path does build [P, n, m] distances (the check can fail).
  const ref = await build({ recompute: false, fold: true });
  assert.ok(liveNodes(ref.g).flatMap((n) => n.outputs).some((v) => v.rank === 3 && numel(v.shape) >= 2 * nIn * nOut));
});

test("the fused site's backward frees G, K, the multiplier, dW^T and W + dW^T before the groups' distances exist, and G after the multiplier", async () => {
  // ORT orders by data dependencies only; without the gates G lived through the recompute of K, and
  // the product's [nOut, nIn] operands could live through the groups' distances.
  for (const opts of [{ fold: true, third: true }, { fold: true }, { fold: false }]) {
    const { g, nForward } = await build({ recompute: true, ...opts });
    const live = new Set(liveNodes(g));
    const bwd = g.nodes.slice(nForward).filter((n) => live.has(n) && n.name.startsWith(`${site.path}/snell_adapter/`));
    const inBwd = new Set(bwd);
    const ancestors = (n: (typeof bwd)[number]) => {
      const seen = new Set<(typeof bwd)[number]>();
      const stack = [n];
      while (stack.length) {
        for (const v of stack.pop()!.inputs) {
          const p = v?.producer;
          if (p && inBwd.has(p) && !seen.has(p)) { seen.add(p); stack.push(p); }
        }
      }
      return seen;
    };
    const big = (v: { shape: readonly number[] }) => numel(v.shape) >= nOut * nIn;
    const consumers = (v: unknown) => bwd.filter((n) => n.inputs.includes(v as never));
    const G = bwd.find((n) => n.type === "Gemm" && n.attrs.transA === 1 && big(n.outputs[0]!))!;
    assert.ok(G, `${JSON.stringify(opts)}: no G = dy^T x`);
    const dKs = consumers(G.outputs[0]).filter((n) => n.type === "Mul");
    assert.equal(dKs.length, 1, `${JSON.stringify(opts)}: dK = G * multiplier`);
    const dK = dKs[0]!;
    const product = bwd.find((n) => (n.type === "Gemm" || n.type === "MatMul") && n.outputs[0]!.shape.join() === `${M},${nIn}`)!;
    assert.ok(product, `${JSON.stringify(opts)}: no dx product`);
    const before = ancestors(product);
    const mult = dK.inputs.find((v) => v !== G.outputs[0])!.producer!;
    assert.ok(ancestors(G).has(mult), `${JSON.stringify(opts)}: G does not wait for the multiplier`);
    // The groups' distances: backward Gemms of the augmented factors (transB, [nOut, nIn]) that are not the K recompute's.
    const dists = bwd.filter((n) => n.type === "Gemm" && n.attrs.transB === 1 && big(n.outputs[0]!) && ancestors(n).has(dK));
    assert.ok(dists.length > 0, `${JSON.stringify(opts)}: no per-group distances after dK`);
    for (const d of dists) {
      const up = ancestors(d);
      assert.ok(up.has(product), `${JSON.stringify(opts)}: ${d.name} does not wait for the dx product`);
      // Every matrix-sized value the product needs, but dK, has all its readers done before the distances.
      for (const n of [...before, product]) {
        if (n === dK || !n.outputs.some(big)) continue;
        for (const c of n.outputs.flatMap((v) => consumers(v))) {
          assert.ok(c === d || up.has(c), `${JSON.stringify(opts)}: ${n.name} (${n.type}) is still read by ${c.name} (${c.type}) when ${d.name} runs`);
        }
      }
    }
  }
});

test("the fused site emits few nodes besides its threshold's (ORT session memory grows by ~5-8 KB a node, 72 sites in a ViT)", async () => {
  const { g } = await build({ recompute: true, fold: true, third: true });
  const siteNodes = liveNodes(g).filter((n) => n.name.startsWith(`${site.path}/snell_adapter/`)).length;
  const t = new GraphBuilder();
  const th = thresholdOf(t, t.input("m", [nOut, nIn]), 0.8);
  t.output(th.t);
  t.output(th.ok);
  const besides = siteNodes - liveNodes(t).length;
  // 164 before the per-group gradient went through the augmented factors and the waits became Gemm
  // C inputs (94 after, ViT-S: 13.8k -> 11.2k nodes after ORT's optimisations, peak RSS about -25 MiB).
  // 106 since sign(r) became (r > 0) - (r < 0), five nodes instead of Sign's one, per group and block:
  // ONNX Sign has no WebGPU kernel.
  assert.ok(besides <= 106, `the fused site emits ${besides} nodes besides its threshold's; at most 106 expected`);
});

test("SNELL without regularisers folds every adapted layer: no frozen product of q, k, v, proj, fc1, fc2 is left", () => {
  const cfg: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 3, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };
  const base = { cfg, params: createVitParams(cfg, new Rng(0)) };
  const gemmsOf = (c: Record<string, unknown>) => {
    const pm = applyAdapters(base, { method: "snell", rank: 4, sparsity: 0.5, ...c });
    const g = new GraphBuilder();
    const images = g.input("images", [2, 3, 16, 16]);
    g.output(pm.forward(g, new ParamBinder(g, pm.params), images, { train: true }));
    return liveNodes(g).filter((n) => n.type === "Gemm").map((n) => n.name);
  };
  const folded = gemmsOf({ dropout: 0, dropPath: 0 });
  // Each site's product lives under its adapter scope; the backbone's own Gemms are gone.
  assert.deepEqual(folded.filter((n) => /blocks\.\d\.(attn|mlp)\.(qkv|proj|fc1|fc2)\/Gemm/.test(n)), []);
  // Dropout acts on the adapter's input only, so with it the frozen products stay, except proj's
  // (the authors' code has no dropout there).
  const withDropout = gemmsOf({ dropout: 0.1, dropPath: 0 });
  assert.deepEqual(withDropout.filter((n) => /blocks\.0\.(attn|mlp)\.(qkv|proj|fc1|fc2)\/Gemm/.test(n)), ["blocks.0.attn.qkv/Gemm", "blocks.0.mlp.fc1/Gemm", "blocks.0.mlp.fc2/Gemm"]);
});
