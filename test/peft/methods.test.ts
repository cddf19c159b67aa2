/**
 * @file The PEFT method matrix on a tiny ViT (depth 2, dim 32, patch 8, image 16): every row runs the
 * same checks (trainable names and counts, no gradient into frozen weights, identity at init,
 * save -> load, merge, ONNX export), as HF PEFT's TEST_CASES.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import { createVitParams, vitForward, type VitConfig } from "../../src/models/vit.js";
import { liveNodes } from "../../src/onnx/writer.js";
import { applyAdapters, formatTrainableReport, graphRunInput, type PeftModel } from "../../src/peft/apply.js";
import { loadPeftModel } from "../../src/peft/adapter-io.js";
import { exportOnnx } from "../../src/peft/export.js";
import { canMerge, merge } from "../../src/peft/merge.js";
import type { AdaptContext } from "../../src/peft/method.js";
import { sparsityInputName, sparsityParamName } from "../../src/peft/snella/index.js";
import { matchModulesToSave } from "../../src/peft/targets.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph, type Feed } from "../../src/runtime/compiled.js";
import { ort } from "../../src/runtime/ort.js";

const cfg: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 5, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };
const B = 2;
const IMG = [B, 3, 16, 16];
const tmp = mkdtempSync(join(tmpdir(), "peft-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A backbone with O(1) activations, so tolerances on logits mean something. */
function makeBase(c: VitConfig = cfg, seed = 1): ParameterStore {
  const ps = createVitParams(c, new Rng(seed));
  const rng = new Rng(seed + 100);
  for (const p of ps.list()) {
    const fanIn = p.shape.slice(1).reduce((a, b) => a * b, 1);
    const gen = () => {
      if (p.name.includes("norm") && p.name.endsWith(".weight")) return 1 + 0.1 * rng.normal();
      if (p.shape.length === 1) return 0.1 * rng.normal();
      if (p.name === "cls_token" || p.name === "pos_embed") return 0.5 * rng.normal();
      return rng.normal() / Math.sqrt(fanIn);
    };
    ps.set(p.name, Float32Array.from({ length: p.data.length }, gen));
  }
  return ps;
}
const base = makeBase();
const images = Float32Array.from({ length: IMG.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(0.37 * i) + 0.3 * Math.cos(1.3 * i));

type RunFeeds = (pm: PeftModel) => Record<string, Feed>;

/** Eval logits of a graph built on `params`; trainable params and declared run inputs are fed. */
async function evalLogits(params: ParameterStore, build: (g: GraphBuilder, bind: ParamBinder, x: Value, ri: AdaptContext["runInput"]) => Value, runFeeds: Record<string, Feed> = {}): Promise<Float32Array> {
  const g = new GraphBuilder();
  const bind = new ParamBinder(g, params);
  const x = g.input("images", IMG);
  g.output(build(g, bind, x, graphRunInput(g)), "logits");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const feeds: Record<string, Feed> = { images };
  for (const { param } of bind.boundTrainable()) feeds[param.name] = param.data;
  for (const v of c.inputs.values()) if (!(v.name in feeds)) feeds[v.name] = runFeeds[v.name] ?? (v.dtype === "int32" ? Int32Array.of(0) : assert.fail(`no feed for ${v.name}`));
  const out = await c.run(feeds, ["logits"]);
  await c.release();
  return out.logits!.data as Float32Array;
}
const peftLogits = (pm: PeftModel, runFeeds: RunFeeds = () => ({})) =>
  evalLogits(pm.params, (g, b, x, ri) => pm.forward(g, b, x, { train: false, runInput: ri }), runFeeds(pm));
const denseLogits = (ps: ParameterStore) => evalLogits(ps, (g, b, x) => vitForward(g, b, cfg, x));

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** Moves every trainable tensor (LoRA's B included) off its init so that adapters do something. */
function perturb(pm: PeftModel, seed = 7): void {
  const rng = new Rng(seed);
  for (const p of pm.params.trainable()) pm.params.set(p.name, p.data.map((v) => v + 0.2 * rng.normal()));
}

interface Row {
  title: string;
  config: Record<string, unknown>;
  /** Trainable scalars, worked out by hand for the tiny ViT (base: 32,005 parameters). */
  trainable: number;
  /** The model is the base model until trained. */
  identityAtInit: boolean;
  /** Gemm/MatMul gradient nodes of block 1's frozen qkv Gemm: 0 (nothing upstream trains), 1 (dX only) or 2 (dX and dW). */
  qkvGradMatmuls: number;
  runFeeds?: RunFeeds;
}

const HEAD_CLS = 5 * 32 + 5 + 32;
const ROWS: Row[] = [
  { title: "LoRA rank 4 on q and v", config: { method: "lora", rank: 4, alpha: 8, targetModules: ["attn.q", "attn.v"] }, trainable: 4 * 256 + HEAD_CLS, identityAtInit: true, qkvGradMatmuls: 1 },
  { title: "LoRA rank 2 on all six linears with input dropout", config: { method: "lora", rank: 2, dropout: 0.1 }, trainable: 2 * (4 * 128 + 320 + 320) + HEAD_CLS, identityAtInit: true, qkvGradMatmuls: 1 },
  { title: "sequential Adapter after proj and fc2", config: { method: "adapter" }, trainable: 4 * (32 * 8 + 8 + 8 * 32 + 32) + HEAD_CLS, identityAtInit: true, qkvGradMatmuls: 1 },
  { title: "parallel Adapter on fc1 of block 1 only", config: { method: "adapter", placement: "parallel", bottleneck: 4, scaling: 0.1, targetModules: ["mlp.fc1"], layers: [1] }, trainable: 32 * 4 + 4 + 4 * 128 + 128 + HEAD_CLS, identityAtInit: true, qkvGradMatmuls: 1 },
  { title: "BitFit", config: { method: "bitfit" }, trainable: 32 + 2 * (32 + 96 + 32 + 32 + 128 + 32) + 32 + 5 + 160, identityAtInit: true, qkvGradMatmuls: 1 },
  { title: "linear probe", config: { method: "linear" }, trainable: 165, identityAtInit: true, qkvGradMatmuls: 0 },
  { title: "full fine-tuning", config: { method: "full" }, trainable: 32005, identityAtInit: true, qkvGradMatmuls: 2 },
  { title: "SNELL rank 8 at sparsity 0.5", config: { method: "snell", sparsity: 0.5 }, trainable: 2 * (4 * 512 + 1280 + 1280) + HEAD_CLS, identityAtInit: false, qkvGradMatmuls: 1 },
  {
    title: "SNELLA on attention only", config: { method: "snella", targetModules: ["attn.q", "attn.k", "attn.v", "attn.proj"] }, trainable: 8 * (512 + 3) + HEAD_CLS, identityAtInit: false, qkvGradMatmuls: 1,
    runFeeds: (pm) => Object.fromEntries(pm.sites.map((s) => [sparsityInputName(s.path), Float32Array.of(pm.params.get(sparsityParamName(s)).data[0]!)])),
  },
];

test("the trainable report has PEFT's format", () => {
  assert.equal(formatTrainableReport(1221, 33029), "trainable params: 1,221 || all params: 33,029 || trainable%: 3.6968");
  assert.equal(formatTrainableReport(0, 0), "trainable params: 0 || all params: 0 || trainable%: 0.0000");
});

for (const row of ROWS) {
  describe(`${row.title}:`, () => {
    const baseLogits = denseLogits(base);
    const pm = applyAdapters({ cfg, params: base, name: "tiny" }, row.config, { seed: 3 });
    const dir = join(tmp, row.title.replace(/\W+/g, "_"));

    test("trainable tensors are the method's own (named with its prefix), modulesToSave or the backbone tensors it trains", () => {
      const saved = new Set([...matchModulesToSave(pm.baseNames, pm.config.modulesToSave).values()].flat());
      const added = new Set(pm.addedNames);
      for (const n of pm.addedNames) {
        const site = pm.sites.find((s) => n.startsWith(`${s.path}.`));
        assert.ok(site && n.slice(site.path.length + 1).startsWith(pm.method.prefix), `${n} is "<site>.${pm.method.prefix}..."`);
      }
      for (const p of pm.params.trainable()) {
        assert.ok(added.has(p.name) || saved.has(p.name) || pm.method.backboneTrainable?.(p.name, pm.config as never), `${p.name} may train`);
      }
      assert.ok(pm.baseNames.every((n) => !base.get(n).trainable), "the base store is left frozen");
    });

    test("the parameter report counts what trains and everything", () => {
      const added = pm.addedNames.reduce((s, n) => s + pm.params.get(n).data.length, 0);
      assert.deepEqual(pm.trainableCounts(), { trainable: row.trainable, all: 32005 + added });
      assert.equal(pm.trainableReport(), formatTrainableReport(row.trainable, 32005 + added));
    });

    test("frozen weights get no gradient nodes", () => {
      const g = new GraphBuilder();
      const bind = new ParamBinder(g, pm.params);
      const logits = pm.forward(g, bind, g.input("images", IMG), { train: true });
      const r = g.constant(Array.from({ length: B * 5 }, (_, i) => Math.cos(i)), logits.shape);
      const loss = g.ReduceSum(g.Mul(logits, r), [0, 1], 0);
      const leaves = bind.boundTrainable();
      const grads = grad(g, loss, leaves.map((e) => e.value));
      const live = liveNodes(g, grads);
      const gradNames = new Set(live.flatMap((n) => n.outputs.map((v) => v.name)).filter((n) => n.endsWith("_grad")));
      for (const p of pm.params.list()) if (!p.trainable) assert.ok(!gradNames.has(`${p.name}_grad`), `no ${p.name}_grad`);
      const qkv = g.nodes.find((n) => n.type === "Gemm" && n.inputs[1]?.name === "blocks.1.attn.qkv.weight")!;
      const mm = live.filter((n) => n.name.startsWith(`${qkv.name}_grad/`) && (n.type === "Gemm" || n.type === "MatMul"));
      assert.equal(mm.length, row.qkvGradMatmuls, mm.map((n) => n.name).join(", "));
      if (row.config.dropout) assert.ok(g.inputs.some((v) => v.name === "lora_dropout_seed"), "dropout declares its seed input");
    });

    test(row.identityAtInit ? "reproduces the base model at init" : "changes the base model at init", async () => {
      const d = maxDiff(await peftLogits(pm, row.runFeeds), await baseLogits);
      if (row.identityAtInit) assert.ok(d < 1e-6, `max |peft - base| = ${d}`);
      else assert.ok(d > 1e-4, `max |peft - base| = ${d}`);
    });

    test("save -> load gives identical outputs, into a fresh model or through loadPeftModel", async () => {
      perturb(pm);
      const want = await peftLogits(pm, row.runFeeds);
      assert.ok(maxDiff(want, await baseLogits) > 1e-3, "the perturbation changes the outputs");
      pm.saveAdapter(dir);
      const fresh = applyAdapters({ cfg, params: base, name: "tiny" }, row.config, { seed: 99 });
      fresh.loadAdapter(dir);
      assert.equal(maxDiff(await peftLogits(fresh, row.runFeeds), want), 0);
      const loaded = loadPeftModel({ cfg, params: base, name: "tiny" }, dir);
      assert.equal(maxDiff(await peftLogits(loaded, row.runFeeds), want), 0);
    });

    test("merged and unmerged outputs agree within 1e-5 (or merging is refused for nonlinear adapters)", async () => {
      if (!canMerge(pm)) {
        assert.throws(() => merge(pm), (e: Error) => e instanceof ConfigError && /cannot be merged/.test(e.message));
        return;
      }
      const dense = merge(pm);
      assert.deepEqual(dense.list().map((p) => p.name), pm.baseNames, "timm keys only");
      assert.ok(dense.list().every((p) => !p.trainable));
      const d = maxDiff(await denseLogits(dense), await peftLogits(pm, row.runFeeds));
      assert.ok(d < 1e-5, `max |merged - unmerged| = ${d}`);
    });

    test("the exported ONNX file loads in onnxruntime from its path and matches", async () => {
      const file = join(tmp, `${row.config.method}-${ROWS.indexOf(row)}.onnx`);
      const res = exportOnnx(pm, file, { batch: B });
      assert.equal(res.merged, canMerge(pm));
      const s = await ort.InferenceSession.create(file);
      assert.deepEqual([s.inputNames, s.outputNames.filter((n) => n === "logits")], [["pixel_values"], ["logits"]]);
      const out = await s.run({ pixel_values: new ort.Tensor("float32", images, IMG) });
      await s.release();
      const d = maxDiff(out.logits!.data as Float32Array, await peftLogits(pm, row.runFeeds));
      assert.ok(d < 1e-5, `max |exported - unmerged| = ${d}`);
    });
  });
}

test("an export with external data writes <file>.data beside the model, and onnxruntime loads both from the path", async () => {
  const pm = applyAdapters({ cfg, params: base }, { method: "lora", rank: 2, targetModules: ["attn.v", "mlp.fc1"] }, { seed: 5 });
  perturb(pm);
  const file = join(tmp, "external.onnx");
  const res = exportOnnx(pm, file, { batch: B, externalData: true });
  assert.equal(res.dataPath, `${file}.data`);
  assert.ok(res.bytes < 64 * 1024, `model file holds no big weights (${res.bytes} bytes)`);
  const s = await ort.InferenceSession.create(file);
  const out = await s.run({ pixel_values: new ort.Tensor("float32", images, IMG) });
  await s.release();
  assert.ok(maxDiff(out.logits!.data as Float32Array, await peftLogits(pm)) < 1e-5);
});

test("LoRA dropout acts in the training graph only, and its mask is a function of the fed seed", async () => {
  const pm = applyAdapters({ cfg, params: base }, { method: "lora", rank: 2, dropout: 0.5, targetModules: ["attn.q"] }, { seed: 5 });
  perturb(pm);
  const train = (seed: number) => evalLogits(pm.params, (g, b, x, ri) => pm.forward(g, b, x, { train: true, runInput: ri }), { lora_dropout_seed: Int32Array.of(seed) });
  const [a, a2, c, ev] = [await train(1), await train(1), await train(2), await peftLogits(pm)];
  assert.equal(maxDiff(a, a2), 0, "same seed, same mask");
  assert.ok(maxDiff(a, c) > 1e-4, "another seed, another mask");
  assert.ok(maxDiff(a, ev) > 1e-4, "eval has no dropout");
});
