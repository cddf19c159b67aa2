/**
 * @file Adapter regularisers as the authors': drop-path keeps or drops whole samples (every token row
 * of an image together, scaled by 1/(1-p)), and q, k and v share one input-dropout mask.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import { fnv1a } from "../../src/ir/ops/random.js";
import type { Value } from "../../src/ir/value.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { applyAdapters, graphRunInput } from "../../src/peft/apply.js";
import { parsePeftConfig } from "../../src/peft/config.js";
import { lora } from "../../src/peft/lora/index.js";
import type { LoraConfig } from "../../src/peft/lora/config.js";
import type { AdaptContext, SiteInfo } from "../../src/peft/method.js";
import { adapterDropPath } from "../../src/peft/site-regularisers.js";
import { SNELL_DEFAULTS, snell, type SnellConfig } from "../../src/peft/snell/index.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

const B = 8, T = 5, N = 3;

/** Per-sample statistics of adapterDropPath(ones [B*T, N]) over seeds, with `samples` groups. */
async function dropPathStats(p: number, samples: number, seeds: number) {
  const g = new GraphBuilder();
  const x = g.input("x", [B * T, N]), seed = g.input("seed", [], "int32");
  g.output(adapterDropPath(g, x, p, seed, fnv1a("site"), samples), "y");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  let kept = 0, mixed = 0, badScale = 0;
  for (let s = 0; s < seeds; s++) {
    const y = (await c.run({ x: new Float32Array(B * T * N).fill(1), seed: Int32Array.of(s) })).y!.data as Float32Array;
    for (let b = 0; b < B; b++) {
      const rows = y.subarray(b * T * N, (b + 1) * T * N);
      const keptRows = rows.filter((v) => v !== 0).length / N;
      // frac (1 - frac) of a sample's kept rows: 0 when the sample is dropped or kept whole
      mixed += (keptRows / T) * (1 - keptRows / T);
      kept += keptRows / T;
      badScale += rows.filter((v) => v !== 0 && v !== Math.fround(1 / (1 - p))).length;
    }
  }
  await c.release();
  return { keepRate: kept / (B * seeds), mixed: mixed / (B * seeds), badScale };
}

describe("adapter drop-path drops whole samples", () => {
  test("a sample's token rows are kept or dropped together; keep rate 1-p; kept rows scaled by 1/(1-p)", async () => {
    const p = 0.3, seeds = 200;
    const ours = await dropPathStats(p, B, seeds);
    assert.equal(ours.mixed, 0, "no sample has some rows kept and others dropped");
    assert.equal(ours.badScale, 0);
    // 1,600 Bernoulli(0.7) draws: sd 0.0115; the bound is 4 sd
    assert.ok(Math.abs(ours.keepRate - (1 - p)) < 0.046, `keep rate ${ours.keepRate}`);
    // The old unit (each token row on its own) mixes within samples: E[frac (1 - frac)] = p (1-p) (1 - 1/T) = 0.168.
    const rowWise = await dropPathStats(p, B * T, seeds);
    assert.ok(rowWise.mixed > 0.1, `row-wise mixed ${rowWise.mixed}`);
  });

  test("rows that do not split into the samples are refused", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [10, 3]), seed = g.input("seed", [], "int32");
    assert.throws(() => adapterDropPath(g, x, 0.1, seed, 1, 3), /10 rows do not split into 3 samples/);
  });

  for (const soft of [false, true]) {
    test(`SNELL's site (${soft ? "autodiff path" : "fused op"}): each sample's adapter output is 0 or 2x the eval output, all tokens alike`, async () => {
      const site: SiteInfo = { path: "blocks.0.mlp.fc1", nIn: 6, nOut: 4, block: 0, kind: "fc1" };
      const cfg: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, rank: 4, sparsity: 0.5, dropout: 0, dropPath: 0.5, softThreshold: soft };
      const ps = new ParameterStore();
      snell.init(ps, site, cfg, new Rng(3));
      const build = (train: boolean) => {
        const g = new GraphBuilder();
        const bind = new ParamBinder(g, ps);
        const x = g.input("x", [B * T, site.nIn]), y = g.input("y", [B * T, site.nOut]);
        g.output(snell.adapt({ g, bind, site, x, y, samples: B, train, runInput: graphRunInput(g) }, cfg), "out");
        return g;
      };
      const rng = new Rng(4);
      const feeds = { x: Float32Array.from({ length: B * T * site.nIn }, () => rng.normal()), y: new Float32Array(B * T * site.nOut) };
      for (const p of ps.trainable()) (feeds as Record<string, Float32Array>)[p.name] = p.data;
      const ce = await CompiledGraph.compile(build(false), { intraOpThreads: 1 });
      const ev = (await ce.run(feeds)).out!.data as Float32Array;
      await ce.release();
      const ct = await CompiledGraph.compile(build(true), { intraOpThreads: 1 });
      let keptSamples = 0;
      for (let s = 0; s < 20; s++) {
        const tr = (await ct.run({ ...feeds, snell_dropout_seed: Int32Array.of(s) })).out!.data as Float32Array;
        for (let b = 0; b < B; b++) {
          const k = tr[b * T * site.nOut]! / ev[b * T * site.nOut]!;
          assert.ok(Math.abs(k) < 1e-6 || Math.abs(k - 2) < 1e-5, `sample ${b}: factor ${k}`);
          for (let i = b * T * site.nOut; i < (b + 1) * T * site.nOut; i++) assert.ok(Math.abs(tr[i]! - k * ev[i]!) <= 1e-5 * (1 + Math.abs(ev[i]!)), `row of sample ${b}`);
          if (k > 1) keptSamples++;
        }
      }
      await ct.release();
      assert.ok(keptSamples > 0 && keptSamples < 20 * B, `kept ${keptSamples} of ${20 * B}`);
    });
  }

  test("LoRA's optional drop-path (the authors' LoRA baseline) also keeps or drops whole samples", async () => {
    const site: SiteInfo = { path: "blocks.0.mlp.fc1", nIn: 6, nOut: 4, block: 0, kind: "fc1" };
    const cfg = parsePeftConfig({ method: "lora", rank: 2, alpha: 2, dropout: 0, dropPath: 0.5 }) as LoraConfig;
    assert.throws(() => parsePeftConfig({ method: "lora", dropPath: 1 }), /lora\.dropPath must be in \[0, 1\), got 1/);
    const ps = new ParameterStore();
    lora.init(ps, site, cfg, new Rng(3));
    ps.set(`${site.path}.lora_B`, Float32Array.from({ length: 8 }, (_, i) => 1 + Math.cos(i)));
    const g = new GraphBuilder();
    const bind = new ParamBinder(g, ps);
    const x = g.input("x", [B * T, site.nIn]), y = g.input("y", [B * T, site.nOut]);
    const ri = graphRunInput(g);
    g.output(lora.adapt({ g, bind, site, x, y, samples: B, train: true, runInput: ri }, cfg), "tr");
    g.output(lora.adapt({ g, bind, site, x, y, samples: B, train: false, runInput: ri }, cfg), "ev");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const rng = new Rng(4);
    const feeds: Record<string, Float32Array | Int32Array> = { x: Float32Array.from({ length: B * T * site.nIn }, () => rng.normal()), y: new Float32Array(B * T * site.nOut) };
    for (const p of ps.trainable()) feeds[p.name] = p.data;
    let kept = 0;
    for (let s = 0; s < 20; s++) {
      const r = await c.run({ ...feeds, lora_dropout_seed: Int32Array.of(s) });
      const [tr, ev] = [r.tr!.data as Float32Array, r.ev!.data as Float32Array];
      for (let b = 0; b < B; b++) {
        const k = tr[b * T * site.nOut]! / ev[b * T * site.nOut]!;
        assert.ok(Math.abs(k) < 1e-6 || Math.abs(k - 2) < 1e-5, `sample ${b}: factor ${k}`);
        for (let i = b * T * site.nOut; i < (b + 1) * T * site.nOut; i++) assert.ok(Math.abs(tr[i]! - k * ev[i]!) <= 1e-5 * (1 + Math.abs(ev[i]!)));
        if (k > 1) kept++;
      }
    }
    await c.release();
    assert.ok(kept > 0 && kept < 20 * B, `kept ${kept} of ${20 * B}`);
  });

  test("PeftModel.forward groups each site's rows by image: adapter masks hold one value per image", () => {
    const vit: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 5, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };
    const pm = applyAdapters({ cfg: vit, params: createVitParams(vit, new Rng(0)) }, { method: "snell", rank: 4, sparsity: 0.5, dropout: 0, dropPath: 0.1 });
    const g = new GraphBuilder();
    pm.forward(g, new ParamBinder(g, pm.params), g.input("images", [3, 3, 16, 16]), { train: true });
    // Each mask reads rows of the random bank with a Gather; with so few entries a row is one entry.
    const fromBank = (n: (typeof g.nodes)[number]) => n.type === "Gather" && n.inputs[0]?.producer?.inputs[0]?.name.startsWith("random/bank_");
    const reads = g.nodes.filter(fromBank).map((n) => n.outputs[0]!.shape[0]! * n.outputs[0]!.shape[1]!);
    assert.ok(reads.length > 0);
    assert.deepEqual([...new Set(reads)], [3], "every mask read has one entry per image (3), not per token row (15)");
  });
});

describe("q, k and v share one input-dropout mask", () => {
  const q: SiteInfo = { path: "blocks.0.attn.q", nIn: 6, nOut: 6, block: 0, kind: "q" };
  const k: SiteInfo = { ...q, path: "blocks.0.attn.k", kind: "k" };

  /** Adapter outputs of q and k on one x, and of q on a copy of x (another value), with identical parameters. */
  async function outputs(method: "snell" | "lora") {
    const ps = new ParameterStore();
    const snellCfg: SnellConfig = { method: "snell", ...SNELL_DEFAULTS, rank: 4, sparsity: 0.5, dropout: 0.5, dropPath: 0 };
    const loraCfg = { method: "lora" as const, rank: 2, alpha: 2, dropout: 0.5, targetModules: [], modulesToSave: [] };
    const init = (site: SiteInfo) => (method === "snell" ? snell.init(ps, site, snellCfg, new Rng(7)) : lora.init(ps, site, loraCfg, new Rng(7)));
    init(q); init(k);
    // k's factors copied from q's (LoRA's B is 0 at init: give both the same nonzero B)
    for (const p of ps.list()) if (p.name.startsWith(q.path)) ps.set(p.name.replace(q.path, k.path), p.data);
    if (method === "lora") for (const s of [q, k]) ps.set(`${s.path}.lora_B`, Float32Array.from({ length: 12 }, (_, i) => Math.cos(i)));
    const g = new GraphBuilder();
    const bind = new ParamBinder(g, ps);
    const x = g.input("x", [4, 6]), y = g.input("y", [4, 6]);
    const ctx = (site: SiteInfo, xv: Value): AdaptContext => ({ g, bind, site, x: xv, y, samples: 4, train: true, runInput: graphRunInput(g) });
    const adapt = (site: SiteInfo, xv: Value) => (method === "snell" ? snell.adapt(ctx(site, xv), snellCfg) : lora.adapt(ctx(site, xv), loraCfg));
    g.output(adapt(q, x), "q"); g.output(adapt(k, x), "k");
    // a second graph value with the same numbers: another input, so its own mask
    g.output(g.scope("other", () => adapt(q, g.Identity(x))), "other");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const feeds: Record<string, Float32Array | Int32Array> = { x: Float32Array.from({ length: 24 }, (_, i) => 1 + Math.sin(i)), y: new Float32Array(24) };
    for (const p of ps.trainable()) feeds[p.name] = p.data;
    feeds[method === "snell" ? "snell_dropout_seed" : "lora_dropout_seed"] = Int32Array.of(9);
    const out = await c.run(feeds);
    await c.release();
    return ["q", "k", "other"].map((n) => Array.from(out[n]!.data as Float32Array));
  }

  for (const method of ["snell", "lora"] as const) {
    test(`${method}: q and k see the same dropped-out x; another input draws its own mask`, async () => {
      const [oq, ok, other] = await outputs(method);
      assert.deepEqual(oq, ok, "q and k adapters with equal parameters give equal outputs");
      assert.notDeepEqual(oq, other, "a different input value gets a different mask");
    });
  }
});
