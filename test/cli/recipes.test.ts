/** @file Recipes (the authors' per-task hyperparameters) and config files (JSON/YAML, errors with file:line, flags override). */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError, FormatError } from "../../src/errors.js";
import { recipeLayer } from "../../src/cli/commands/setup.js";
import { FGVC_DATASETS, RECIPES, SNELLA_VTAB_TASKS, VTAB_TASKS, getRecipe, recipeNames } from "../../src/cli/recipes.js";
import { peftConfigOf } from "../../src/cli/commands/setup.js";
import { parseModelEma, trainerConfigOf } from "../../src/cli/commands/train.js";
import { TRAINER_DEFAULTS } from "../../src/train/trainer.js";
import { camelCaseKeys, explicitFlags, jsonErrorOffset, lineColAt, loadConfigFile, mergeConfigs } from "../../src/cli/config-file.js";

describe("recipes", () => {
  test("cover the 19 VTAB-1k tasks and 5 FGVC datasets (FGVC at ranks 8, 16 and 32), each with a LoRA variant, and the SNELLA scripts", () => {
    assert.equal(VTAB_TASKS.length, 19);
    assert.deepEqual([...FGVC_DATASETS].sort(), ["cub", "nabirds", "oxford_flowers", "stanford_cars", "stanford_dogs"]);
    // The authors released SNELLA scripts for 9 VTAB-1k tasks and all 5 FGVC datasets.
    assert.equal(SNELLA_VTAB_TASKS.length, 9);
    assert.equal(RECIPES.size, 2 * (19 + 5 * 3) + 9 + 5);
    for (const t of VTAB_TASKS) assert.ok(RECIPES.has(`vtab/${t}`), t);
    for (const d of FGVC_DATASETS) for (const n of [`fgvc/${d}`, `fgvc/${d}-r16`, `fgvc/${d}-r32`]) assert.ok(RECIPES.has(n), n);
  });
  test("match the official scripts on spot checks", () => {
    // scripts/vtab/snell32/vit_cifar_snell.sh: batch 16, LR 0.001, WD 0.01, init_thres 0.9, 200 epochs
    assert.deepEqual(
      (({ batchSize, lr, weightDecay, sparsity, epochs, rank }) => ({ batchSize, lr, weightDecay, sparsity, epochs, rank }))(getRecipe("vtab/cifar")),
      { batchSize: 16, lr: 0.001, weightDecay: 0.01, sparsity: 0.9, epochs: 200, rank: 32 },
    );
    const cam = getRecipe("vtab/patch_camelyon");
    assert.deepEqual([cam.lr, cam.weightDecay, cam.sparsity, cam.epochs], [0.0007, 0.05, 0.15, 100]);
    const dogs32 = getRecipe("fgvc/stanford_dogs-r32");
    assert.deepEqual([dogs32.lr, dogs32.weightDecay, dogs32.rank, dogs32.dataset], [0.0003, 0.005, 32, "stanforddog"]);
    assert.equal(getRecipe("fgvc/oxford_flowers-r32").sparsity, 0.8);
    assert.equal(getRecipe("fgvc/oxford_flowers").sparsity, 0.6);
    // train.py's --drop-path 0.1 is the blocks' stochastic depth (timm's drop_path_rate); the trainer gets it.
    assert.equal(getRecipe("vtab/cifar").stochasticDepth, 0.1);
    assert.equal(recipeLayer("vtab/cifar").stochasticDepth, 0.1);
    assert.ok(Object.keys(TRAINER_DEFAULTS).includes("stochasticDepth"), "the recipe key is a trainer setting");
  });
  test("share train.py's defaults and say where each came from", () => {
    for (const r of RECIPES.values()) {
      assert.deepEqual([r.warmupEpochs, r.warmupLr, r.minLr, r.labelSmoothing, r.optimizer], [10, 1e-6, 1e-5, 0, "adamw"], r.name);
      assert.ok(r.evalInterval === 10 || (r.method === "snella" && r.evalInterval === 1), r.name);
      const script = r.method === "snella" ? /snella32\/\w+\.sh$/ : /snell\d+\/vit_\w+\.sh$/;
      assert.match(r.source, /^https:\/\/github\.com\/ssfgunner\/SNELL\/blob\/[0-9a-f]{40}\/(scripts|configs)\/(vtab|fgvc)\//, r.name);
      assert.match(r.source, script, r.name);
      assert.ok(r.sparsity >= 0 && r.sparsity < 1 && r.lr > 0 && r.batchSize >= 8, r.name);
      assert.equal(r.preprocess, r.benchmark === "vtab-1k" ? "snell-vtab" : "snell-fgvc");
      assert.equal(r.trainSplit, r.benchmark === "vtab-1k" ? "train800val200" : "train", r.name);
    }
  });
  test("SNELLA recipes: rank 32, s0 0.01 (VTAB) or 0 (FGVC), warm-ups 0/0, mask interval 1, FGVC model EMA 0.9999", () => {
    for (const t of SNELLA_VTAB_TASKS) assert.ok(RECIPES.has(`snella-vtab/${t}`), t);
    for (const d of FGVC_DATASETS) assert.ok(RECIPES.has(`snella-fgvc/${d}`), d);
    for (const r of [...RECIPES.values()].filter((x) => x.method === "snella")) {
      assert.equal(r.rank, 32, r.name);
      assert.equal(r.epochs, 100, r.name);
      assert.equal(r.modelEma, r.benchmark === "fgvc" ? 0.9999 : null, r.name);
      if (r.tuningModel === "mixk") { assert.equal(r.allocator, null, r.name); continue; }
      assert.deepEqual(r.allocator, { initSparsity: r.benchmark === "fgvc" ? 0 : 0.01, initWarmup: 0, finalWarmup: 0, maskInterval: 1, beta1: 0.85, beta2: 0.85, unit: "epoch" }, r.name);
    }
    // scripts/vtab/snella32/cifar.sh: batch 8, LR 0.001, WD 0.05, target_ratio 0.8, --val_interval 10, --amp.
    const cifar = getRecipe("snella-vtab/cifar");
    assert.deepEqual([cifar.batchSize, cifar.lr, cifar.weightDecay, cifar.sparsity, cifar.evalInterval, cifar.amp], [8, 0.001, 0.05, 0.8, 10, true]);
    // dtd.sh evaluates every epoch; dogs.sh: batch 32, LR 1e-4, WD 0.005, target 0.24.
    assert.equal(getRecipe("snella-vtab/dtd").evalInterval, 1);
    const dogs = getRecipe("snella-fgvc/stanforddog");
    assert.deepEqual([dogs.name, dogs.batchSize, dogs.lr, dogs.weightDecay, dogs.sparsity], ["snella-fgvc/stanford_dogs", 32, 0.0001, 0.005, 0.24]);
    assert.match(dogs.source, /\/scripts\/fgvc\/snella32\/dogs\.sh$/);
    // caltech.sh, svhn.sh and cars.sh run dense MixK (--tuning_model mixk), without the allocator.
    assert.deepEqual([...RECIPES.values()].filter((r) => r.tuningModel === "mixk").map((r) => r.name), ["snella-vtab/caltech101", "snella-vtab/svhn", "snella-fgvc/stanford_cars"]);
  });
  test("a SNELLA recipe becomes the method's allocator and the trainer's EMA; a user's --peft merges over the allocator", () => {
    const layer = recipeLayer("snella-fgvc/cub");
    assert.equal(layer.method, "snella");
    assert.equal(layer.modelEma, 0.9999);
    assert.equal(trainerConfigOf(layer).modelEma, 0.9999);
    assert.equal(layer.trainSplit, "train");
    const merged = mergeConfigs(layer, { peft: { allocator: { beta1: 0.8 } } });
    const peft = peftConfigOf(merged, new Set(Object.keys(layer)));
    assert.deepEqual(peft.allocator, { initSparsity: 0, initWarmup: 0, finalWarmup: 0, maskInterval: 1, beta1: 0.8, beta2: 0.85, unit: "epoch" });
    assert.deepEqual([peft.method, peft.rank, peft.sparsity], ["snella", 32, 0.3]);
    assert.equal(recipeLayer("snella-vtab/dtd").evalEvery, 1);
    assert.equal(recipeLayer("snella-vtab/cifar").evalEvery, "authors");
    assert.throws(() => recipeLayer("snella-vtab/svhn"), (e: unknown) => e instanceof ConfigError && /dense MixK/.test(e.message) && /svhn\.sh/.test(e.message));
  });
  test("the LoRA variant is their LoRA baseline: same script, rank and schedule, unscaled, dropout 0.1 and drop-path 0.1", () => {
    const r = getRecipe("vtab/cifar-lora");
    assert.deepEqual([r.method, r.rank, r.alpha, r.dropout, r.dropPath, r.lr, r.batchSize], ["lora", 32, 32, 0.1, 0.1, 0.001, 16]);
    assert.equal(r.source, getRecipe("vtab/cifar").source);
    assert.equal(getRecipe("fgvc/stanfordcar-r16-lora").name, "fgvc/stanford_cars-r16-lora");
    const layer = recipeLayer("fgvc/cub-lora");
    assert.deepEqual([layer.method, layer.rank, layer.alpha, layer.dropout, layer.dropPath], ["lora", 8, 8, 0.1, 0.1]);
    assert.equal(layer.sparsity, undefined);
  });
  test("the LoRA variant's drop-path reaches the LoRA config", () => {
    const layer = recipeLayer("vtab/cifar-lora");
    const peft = peftConfigOf(layer, new Set(Object.keys(layer)));
    assert.deepEqual([peft.method, peft.rank, peft.alpha, peft.dropout, peft.dropPath], ["lora", 32, 32, 0.1, 0.1]);
  });
  test("--model-ema takes a decay in (0, 1); config values are checked the same way", () => {
    assert.equal(parseModelEma("0.9999"), 0.9999);
    for (const bad of ["0", "1", "-0.5", "", "x", "1.5"]) assert.throws(() => parseModelEma(bad), /--model-ema must be a decay in \(0, 1\)/, bad);
    assert.throws(() => trainerConfigOf({ modelEma: 2 }), (e: unknown) => e instanceof ConfigError && /--model-ema/.test(e.message));
    assert.equal(trainerConfigOf({}).modelEma, undefined);
  });
  test("accept the authors' folder names as aliases and return copies", () => {
    assert.equal(getRecipe("fgvc/stanfordcar").name, "fgvc/stanford_cars");
    assert.equal(getRecipe("FGVC/StanfordDog-r16").name, "fgvc/stanford_dogs-r16");
    const r = getRecipe("vtab/dtd");
    r.lr = 5;
    assert.equal(getRecipe("vtab/dtd").lr, 0.001);
  });
  test("an unknown name throws a ConfigError listing the valid names", () => {
    assert.throws(() => getRecipe("vtab/cifar100"), (e: unknown) =>
      e instanceof ConfigError && e.message.startsWith('unknown recipe "vtab/cifar100"') && recipeNames().every((n) => e.message.includes(n)));
  });
});

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snell-cfg-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => { const p = path.join(dir, name); fs.writeFileSync(p, text); return p; };

describe("config files", () => {
  test("JSON and YAML load to the same camelCase object", () => {
    const j = loadConfigFile(write("a.json", '{"recipe": "vtab/cifar", "weight-decay": 0.05, "snell": {"target_modules": ["attn.qkv"]}}'));
    const y = loadConfigFile(write("a.yaml", "recipe: vtab/cifar\nweight_decay: 0.05\nsnell:\n  targetModules: [attn.qkv]\n"));
    assert.deepEqual(j, { recipe: "vtab/cifar", weightDecay: 0.05, snell: { targetModules: ["attn.qkv"] } });
    assert.deepEqual(y, j);
    assert.deepEqual(loadConfigFile(write("empty.yml", "# nothing\n")), {});
  });
  test("parse errors name the file, line and column", () => {
    const jf = write("bad.json", '{\n  "lr": 0.1,\n  "epochs": ,\n}\n');
    assert.throws(() => loadConfigFile(jf), (e: unknown) => e instanceof FormatError && e.message.startsWith(`${jf}:3:13: invalid JSON`));
    const trailing = write("comma.json", '{\n  "lr": 0.1,\n}\n');
    assert.throws(() => loadConfigFile(trailing), (e: unknown) => e instanceof FormatError && e.message.startsWith(`${trailing}:3:1: invalid JSON`));
    assert.equal(jsonErrorOffset('{"a": [1, 2.5e3, "x\\n", true, null], "b": {}}'), -1);
    assert.equal(jsonErrorOffset('{"a": 01}'), 7);
    const yf = write("bad.yaml", "lr: 0.1\nepochs: [1, 2\nbatch: 3\n");
    assert.throws(() => loadConfigFile(yf), (e: unknown) => e instanceof FormatError && new RegExp(`^${yf.replace(/[.]/g, "\\.")}:[23]:\\d+: invalid YAML`).test(e.message));
    const dup = write("dup.yaml", "lr: 0.1\nlr: 0.2\n");
    assert.throws(() => loadConfigFile(dup), (e: unknown) => e instanceof FormatError && e.message.startsWith(`${dup}:2:`));
  });
  test("a missing file, a non-mapping top level and unknown keys are ConfigErrors", () => {
    assert.throws(() => loadConfigFile(path.join(dir, "none.yaml")), (e: unknown) => e instanceof ConfigError && /none\.yaml cannot be read \(ENOENT\)/.test(e.message));
    assert.throws(() => loadConfigFile(write("list.yaml", "- 1\n- 2\n")), /must hold a mapping.*got a list/);
    assert.throws(() => loadConfigFile(write("k.json", '{"lr": 1, "lrr": 2}'), { allowedKeys: ["lr", "epochs"] }),
      (e: unknown) => e instanceof ConfigError && /unknown option in .*k\.json "lrr"; expected one of epochs, lr/.test(e.message));
  });
  test("flags override file values, which override the recipe; undefined never overrides; objects merge", () => {
    const recipe = { lr: 0.001, epochs: 200, snell: { rank: 32, sparsity: 0.9 } };
    const file = { epochs: 20, snell: { sparsity: 0.5 }, out: "runs/a" };
    const flags = { epochs: 3, lr: undefined, out: "runs/b" };
    assert.deepEqual(mergeConfigs(recipe, file, flags), { lr: 0.001, epochs: 3, snell: { rank: 32, sparsity: 0.5 }, out: "runs/b" });
    assert.deepEqual(recipe.snell, { rank: 32, sparsity: 0.9 }, "inputs are not mutated");
  });
  test("explicitFlags keeps only what the user typed, not commander defaults", () => {
    const values: Record<string, unknown> = { epochs: 3, lr: 0.001, batchSize: 64 };
    const sources: Record<string, string> = { epochs: "cli", lr: "default", batchSize: "env" };
    assert.deepEqual(explicitFlags({ opts: () => values, getOptionValueSource: (k) => sources[k] }), { epochs: 3, batchSize: 64 });
  });
  test("helpers: line/column of an offset and key normalisation", () => {
    assert.deepEqual(lineColAt("ab\ncd\nef", 4), { line: 2, col: 2 });
    assert.deepEqual(camelCaseKeys({ "warmup-lr": 1, nested_list: [{ min_lr: 2 }] }), { warmupLr: 1, nestedList: [{ minLr: 2 }] });
  });
});
