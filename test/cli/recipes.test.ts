/** @file Recipes (the authors' per-task hyperparameters) and config files (JSON/YAML, errors with file:line, flags override). */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError, FormatError } from "../../src/errors.js";
import { recipeLayer } from "../../src/cli/commands/setup.js";
import { FGVC_DATASETS, RECIPES, VTAB_TASKS, getRecipe, recipeNames } from "../../src/cli/recipes.js";
import { TRAINER_DEFAULTS } from "../../src/train/trainer.js";
import { camelCaseKeys, explicitFlags, jsonErrorOffset, lineColAt, loadConfigFile, mergeConfigs } from "../../src/cli/config-file.js";

describe("recipes", () => {
  test("cover the 19 VTAB-1k tasks and 5 FGVC datasets (FGVC at ranks 8, 16 and 32)", () => {
    assert.equal(VTAB_TASKS.length, 19);
    assert.deepEqual([...FGVC_DATASETS].sort(), ["cub", "nabirds", "oxford_flowers", "stanford_cars", "stanford_dogs"]);
    assert.equal(RECIPES.size, 19 + 5 * 3);
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
      assert.deepEqual([r.warmupEpochs, r.warmupLr, r.minLr, r.labelSmoothing, r.optimizer, r.evalInterval], [10, 1e-6, 1e-5, 0, "adamw", 10], r.name);
      assert.match(r.source, /^https:\/\/github\.com\/ssfgunner\/SNELL\/blob\/[0-9a-f]{40}\/(scripts|configs)\/(vtab|fgvc)\/snell\d+\/vit_\w+\.sh$/, r.name);
      assert.ok(r.sparsity >= 0 && r.sparsity < 1 && r.lr > 0 && r.batchSize >= 8, r.name);
      assert.equal(r.preprocess, r.benchmark === "vtab-1k" ? "snell-vtab" : "snell-fgvc");
    }
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
