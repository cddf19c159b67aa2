/**
 * @file The Backbone seam: no file outside src/models names an architecture, and a backbone the
 * library has never seen (a two-layer MLP registered here) gets adapters, trains, saves, loads,
 * merges and resolves by name through the same API as ViT.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { makeTransform } from "../../src/data/transforms.js";
import { readVtab } from "../../src/data/vtab.js";
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import type { Backbone, BackboneConfigBase, SiteInfo } from "../../src/models/backbone.js";
import { backboneOf, getBackbone, registerBackbone, resolveVariant } from "../../src/models/registry.js";
import { applyAdapters, type BaseModel, type PeftModel } from "../../src/peft/apply.js";
import { loadPeftModel } from "../../src/peft/adapter-io.js";
import { merge } from "../../src/peft/merge.js";
import { Rng, truncNormal } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { train } from "../../src/train/trainer.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

/** What names an architecture: its modules, or camelCase identifiers starting with its name (VitConfig, swinSites, convnextForward). */
const ARCH_IMPORT = /from\s+["'][^"']*models\/(?:vit|swin|convnext)[\w-]*\.js["']/;
const ARCH_IDENT = /\b(?:(?:vit|swin|convnext|Vit|Swin|Convnext|ConvNext)[A-Z]\w*|(?:VIT|SWIN|CONVNEXT)_[A-Z]\w*|NAMED_(?:VIT|SWIN|CONVNEXT)S)\b/;

/** "file:line: text" for every line of `text` that names an architecture. */
function archMentions(file: string, text: string): string[] {
  return text.split("\n").flatMap((line, i) => (ARCH_IMPORT.test(line) || ARCH_IDENT.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith(".ts") ? [p] : [];
  });
}

describe("no file outside src/models names an architecture", () => {
  test("the check catches an import of the ViT module and its identifiers, not model names in strings", () => {
    assert.equal(archMentions("x.ts", 'import { vitForward } from "../models/vit.js";').length, 1);
    assert.equal(archMentions("x.ts", 'import type { X } from "../../models/swin-variants.js";').length, 1);
    assert.equal(archMentions("x.ts", "const c: VitConfig = cfg;").length, 1);
    assert.equal(archMentions("x.ts", "convnextSites(cfg)").length, 1);
    assert.equal(archMentions("x.ts", "const n = NAMED_VITS[name] ?? VIT_ARCHS[name];").length, 1);
    assert.equal(archMentions("x.ts", 'model: "vit_base_patch16_224.orig_in21k", demo: "demo-vit-mnist04"').length, 0);
    assert.equal(archMentions("x.ts", "// timm's ViT-B keys; backboneOf(cfg).forward").length, 0);
  });

  test("src/ outside src/models uses only the Backbone interface and the registry", () => {
    const found = sourceFiles(SRC)
      .filter((f) => !relative(SRC, f).startsWith(`models${"/"}`) && relative(SRC, f) !== "index.ts")
      .flatMap((f) => archMentions(relative(SRC, f), fs.readFileSync(f, "utf8")));
    assert.deepEqual(found, []);
  });
});

/** A backbone no library file knows: images flattened, blocks.i.fc (Linear + GELU) `depth` times, then a head. */
interface ToyConfig extends BackboneConfigBase {
  arch: "toy_mlp";
  hidden: number;
  depth: number;
}

const toySites = (c: ToyConfig): SiteInfo[] => [
  ...Array.from({ length: c.depth }, (_, i) => ({ path: `blocks.${i}.fc`, nIn: i === 0 ? c.inChans * c.imgSize ** 2 : c.hidden, nOut: c.hidden, block: i, kind: "fc" })),
  ...(c.numClasses > 0 ? [{ path: "head", nIn: c.hidden, nOut: c.numClasses, block: null, kind: "head" }] : []),
];

const TOY: Backbone<ToyConfig> = {
  arch: "toy_mlp",
  configKeys: ["imgSize", "inChans", "numClasses", "hidden", "depth"],
  validate(c) {
    if (!(c.hidden > 0 && c.depth > 0)) throw new ConfigError(`toy_mlp: hidden and depth must be positive`);
  },
  paramSpecs: (c) => toySites(c).flatMap((s) => [
    { name: `${s.path}.weight`, shape: [s.nOut, s.nIn], init: "trunc", decay: true },
    { name: `${s.path}.bias`, shape: [s.nOut], init: "zeros", decay: false },
  ]),
  createParams(c, rng) {
    const ps = new ParameterStore();
    for (const p of TOY.paramSpecs(c)) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      ps.add(p.name, p.shape, p.init === "trunc" ? truncNormal(rng, n, 0.3) : new Float32Array(n), { trainable: false, decay: p.decay });
    }
    return ps;
  },
  sites: toySites,
  siteWeight: (_c, s) => ({ weight: `${s.path}.weight`, bias: `${s.path}.bias`, rowOffset: 0 }),
  defaultTargets: ["fc"],
  defaultTrained: ["head"],
  forward(g, bind, c, images, opts = {}) {
    const B = images.shape[0]!;
    let x = g.Reshape(images, [B, c.inChans * c.imgSize ** 2]);
    for (const s of toySites(c)) {
      const w = bind.get(`${s.path}.weight`), b = bind.get(`${s.path}.bias`);
      if (s.block === null && opts.features) break;
      const y0 = g.Gemm(x, w, b, { transB: 1 });
      const y = opts.adapt ? opts.adapt(s, x, y0, () => ({ weight: w, bias: b, rows: [0, s.nOut] }), B) : y0;
      x = s.block === null ? y : g.gelu(y);
    }
    return x;
  },
  describe: (c) => `toy MLP ${c.hidden}x${c.depth}`,
  variants: {
    names: () => ["toy_mlp_small"],
    resolve: (name, over) => name === "toy_mlp_small"
      ? { name, arch: name, tag: null, config: { arch: "toy_mlp", imgSize: 8, inChans: 3, numClasses: 3, hidden: 12, depth: 2, ...over } as ToyConfig, pretrained: null }
      : null,
  },
};

/** Logits of `images` [B, C, H, W] from a graph `build` makes. */
async function logitsOf(build: (g: GraphBuilder, x: ReturnType<GraphBuilder["input"]>) => ReturnType<GraphBuilder["input"]>, images: Float32Array, shape: number[]): Promise<Float32Array> {
  const g = new GraphBuilder();
  const x = g.input("images", shape);
  g.output(build(g, x), "logits");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  try {
    return Float32Array.from((await c.run({ images })).logits!.data as Float32Array);
  } finally {
    await c.release();
  }
}

describe("a backbone registered from outside the library", () => {
  let tmp: ReturnType<typeof tempDir>;
  let data: string;
  before(async () => {
    registerBackbone(TOY);
    tmp = tempDir("snell-seam-");
    data = join(tmp.dir, "task");
    await writeVtabTask(data, { numClasses: 3, perClass: 3 });
  });
  after(() => tmp.remove());

  const base = (): BaseModel => {
    const { config, name } = resolveVariant("toy_mlp_small");
    return { cfg: config, params: TOY.createParams(config as ToyConfig, new Rng(1)), name };
  };

  test("resolves by model name; --arch keys are checked against its own config", () => {
    assert.equal(getBackbone("toy_mlp"), TOY);
    const v = resolveVariant("toy_mlp_small", { hidden: 5 });
    assert.equal(backboneOf(v.config), TOY);
    assert.equal((v.config as ToyConfig).hidden, 5);
    assert.throws(() => resolveVariant("toy_mlp_small", { embedDim: 5 }), /--arch: unknown key "embedDim"; expected one of imgSize, inChans, numClasses, hidden, depth/);
    assert.throws(() => resolveVariant("toy_mlp_smal"), (e: Error) => e instanceof ConfigError && /toy_mlp_small/.test(e.message));
    assert.throws(() => registerBackbone({ ...TOY }), /backbone "toy_mlp" is already registered/);
  });

  test("method defaults become the backbone's; explicit targets are kept", () => {
    const lora = applyAdapters(base(), { method: "lora", rank: 2 });
    assert.deepEqual(lora.sites.map((s) => s.path), ["blocks.0.fc", "blocks.1.fc"]);
    assert.deepEqual((lora.config as unknown as { modulesToSave: readonly string[] }).modulesToSave, ["head"]);
    assert.deepEqual(lora.params.list().filter((p) => p.trainable && !p.name.includes("lora_")).map((p) => p.name), ["head.weight", "head.bias"]);
    // Adapter's default (attn.proj, mlp.fc2) is not this backbone's: it gets the backbone's targets; a linear probe its classifier.
    assert.deepEqual(applyAdapters(base(), { method: "adapter" }).sites.map((s) => s.path), ["blocks.0.fc", "blocks.1.fc"]);
    const probe = applyAdapters(base(), { method: "linear" });
    assert.deepEqual(probe.params.list().filter((p) => p.trainable).map((p) => p.name), ["head.weight", "head.bias"]);
    const one = applyAdapters(base(), { method: "snell", rank: 2, targetModules: ["blocks.1.fc"] });
    assert.deepEqual(one.sites.map((s) => s.path), ["blocks.1.fc"]);
    assert.throws(() => applyAdapters(base(), { method: "lora", rank: 2, targetModules: ["attn.q"] }), /"attn.q" matches no module; adaptable modules are fc, head/);
  });

  test("LoRA trains one epoch, saves, loads and merges to the same logits", async () => {
    const pm: PeftModel = applyAdapters(base(), { method: "lora", rank: 2 }, { seed: 3 });
    const trainSet = readVtab(data, "train800val200");
    const t = (trainMode: boolean) => makeTransform("snell-vtab", { train: trainMode, size: 8 });
    const before = pm.params.get("blocks.0.fc.lora_B").data.slice();
    const r = await train({
      model: pm, train: trainSet, eval: readVtab(data, "test", { numClasses: 3 }), transforms: { train: t(true), eval: t(false) },
      config: { epochs: 1, batchSize: 3, lr: 1e-2, weightDecay: 0, warmupEpochs: 0 },
    });
    assert.ok(Number.isFinite(r.history[0]!.loss));
    assert.ok(pm.params.get("blocks.0.fc.lora_B").data.some((v, i) => v !== before[i]), "the adapter trained");

    const dir = join(tmp.dir, "adapter");
    pm.saveAdapter(dir);
    const stored = JSON.parse(fs.readFileSync(join(dir, "adapter_config.json"), "utf8")) as { base_model: { config: ToyConfig } };
    assert.equal(stored.base_model.config.arch, "toy_mlp");
    const loaded = loadPeftModel(base(), dir);
    for (const n of pm.savedNames()) assert.deepEqual(loaded.params.get(n).data, pm.params.get(n).data, n);

    // Frozen, every tensor becomes a graph constant (trainable ones would be fed inputs).
    for (const p of loaded.params.list()) p.trainable = false;
    const B = 4, shape = [B, 3, 8, 8];
    const images = truncNormal(new Rng(9), B * 3 * 64, 1);
    const adapted = await logitsOf((g, x) => loaded.forward(g, new ParamBinder(g, loaded.params), x), images, shape);
    const dense = merge(loaded);
    const cfg = loaded.cfg;
    const merged = await logitsOf((g, x) => backboneOf(cfg).forward(g, new ParamBinder(g, dense), cfg, x), images, shape);
    const plain = await logitsOf((g, x) => backboneOf(cfg).forward(g, new ParamBinder(g, base().params), cfg, x), images, shape);
    for (let i = 0; i < adapted.length; i++) assert.ok(Math.abs(adapted[i]! - merged[i]!) < 1e-4, `logit ${i}: ${adapted[i]} adapted vs ${merged[i]} merged`);
    assert.ok(adapted.some((v, i) => Math.abs(v - plain[i]!) > 1e-4), "training changed the logits");
  });
});
