/** @file Target-module selection: suffixes on component boundaries, regexes, excludes and layers (pure TS, no ORT). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { vitSites, type VitConfig } from "../../src/models/vit.js";
import { matchesPattern, matchModulesToSave, selectSites } from "../../src/peft/targets.js";

const cfg: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 5, embedDim: 32, depth: 3, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };
const sites = vitSites(cfg);
const paths = (sel: Parameters<typeof selectSites>[1]) => selectSites(sites, sel).map((s) => s.path);

describe("matchesPattern", () => {
  test("a plain pattern matches the whole path or a suffix that starts after a dot", () => {
    assert.ok(matchesPattern("blocks.3.attn.q", "attn.q"));
    assert.ok(matchesPattern("blocks.3.attn.q", "q"));
    assert.ok(matchesPattern("head", "head"));
    assert.ok(!matchesPattern("blocks.3.attn.q", "tn.q"), "no match inside a component");
    assert.ok(!matchesPattern("blocks.3.mlp.fc1", "fc"));
  });
  test("a /regex/ must match the whole path", () => {
    assert.ok(matchesPattern("blocks.3.attn.q", "/blocks\\.\\d+\\.attn\\.[qv]/"));
    assert.ok(!matchesPattern("blocks.3.attn.k", "/blocks\\.\\d+\\.attn\\.[qv]/"));
    assert.ok(!matchesPattern("blocks.3.attn.q", "/attn\\.q/"), "anchored like re.fullmatch");
  });
  test("an invalid regex is a ConfigError naming the field", () => {
    assert.throws(() => matchesPattern("head", "/(/", "lora.targetModules"), (e: Error) => e instanceof ConfigError && /lora\.targetModules: invalid regex/.test(e.message));
  });
});

describe("selectSites", () => {
  test("suffixes select the same module in every block, in forward order", () => {
    assert.deepEqual(paths({ targetModules: ["attn.v", "attn.q"] }), ["blocks.0.attn.q", "blocks.0.attn.v", "blocks.1.attn.q", "blocks.1.attn.v", "blocks.2.attn.q", "blocks.2.attn.v"]);
  });
  test("layers restrict to block indices and drop the head", () => {
    assert.deepEqual(paths({ targetModules: ["mlp.fc1", "head"], layers: [2] }), ["blocks.2.mlp.fc1"]);
    assert.deepEqual(paths({ targetModules: ["head"] }), ["head"]);
  });
  test("excludeModules removes matches, by suffix or regex", () => {
    assert.deepEqual(paths({ targetModules: ["attn.q"], excludeModules: ["blocks.1.attn.q"] }), ["blocks.0.attn.q", "blocks.2.attn.q"]);
    assert.deepEqual(paths({ targetModules: ["/blocks\\.\\d\\.mlp\\..*/"], excludeModules: ["/.*fc2/"] }), ["blocks.0.mlp.fc1", "blocks.1.mlp.fc1", "blocks.2.mlp.fc1"]);
  });
  test("an empty target list selects nothing (BitFit, linear probe)", () => {
    assert.deepEqual(paths({ targetModules: [] }), []);
  });
  test("a target that matches nothing is a ConfigError naming it and listing the modules", () => {
    assert.throws(() => selectSites(sites, { targetModules: ["attn.q", "attn.qkv"] }, "lora"),
      (e: Error) => e instanceof ConfigError && /lora\.targetModules: "attn\.qkv" matches no module/.test(e.message) && /attn\.q, attn\.k/.test(e.message));
  });
  test("bad layers and excludes are ConfigErrors naming them", () => {
    assert.throws(() => selectSites(sites, { targetModules: ["q"], layers: [3] }, "lora"), /lora\.layers: block 3 does not exist; the model has blocks 0\.\.2/);
    assert.throws(() => selectSites(sites, { targetModules: ["q"], excludeModules: ["fc9"] }, "lora"), /lora\.excludeModules: "fc9" matches no module/);
    assert.throws(() => selectSites(sites, { targetModules: ["head"], layers: [0] }, "lora"), /leaves no module to adapt/);
  });
});

test("modulesToSave matches whole keys and dotted prefixes only", () => {
  const m = matchModulesToSave(["head.weight", "head.bias", "cls_token", "header.weight", "pos_embed"], ["head", "cls_token", "pos"]);
  assert.deepEqual(m.get("head"), ["head.weight", "head.bias"]);
  assert.deepEqual(m.get("cls_token"), ["cls_token"]);
  assert.deepEqual(m.get("pos"), []);
});
