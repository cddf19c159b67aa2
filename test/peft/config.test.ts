/** @file parsePeftConfig and the method registry: defaults, errors that name the field, PEFT's registration checks. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { parsePeftConfig } from "../../src/peft/config.js";
import type { PeftMethod } from "../../src/peft/method.js";
import { allMethods, checkMethod, getMethod, registerMethod, unregisterMethod, type GenericPeftConfig } from "../../src/peft/registry.js";

const configError = (re: RegExp) => (e: Error) => e instanceof ConfigError && re.test(e.message);

describe("parsePeftConfig", () => {
  test("applies the method's defaults", () => {
    const c = parsePeftConfig({ method: "lora", rank: 4 });
    assert.deepEqual(c, { method: "lora", rank: 4, alpha: 8, dropout: 0, targetModules: ["attn.q", "attn.k", "attn.v", "attn.proj", "mlp.fc1", "mlp.fc2"], modulesToSave: ["head", "cls_token"] });
  });
  test("is idempotent and copies arrays", () => {
    const raw = { method: "adapter", targetModules: ["mlp.fc1"] };
    const c = parsePeftConfig(raw);
    assert.deepEqual(parsePeftConfig(c), c);
    assert.notEqual(c.targetModules, raw.targetModules);
  });
  test("accepts PEFT's snake_case keys", () => {
    const c = parsePeftConfig({ method: "lora", target_modules: ["attn.q"], modules_to_save: ["head"], exclude_modules: ["blocks.0.attn.q"], layers: [1] });
    assert.deepEqual([c.targetModules, c.modulesToSave, c.excludeModules, c.layers], [["attn.q"], ["head"], ["blocks.0.attn.q"], [1]]);
  });
  test("an unknown method lists the valid ones", () => {
    assert.throws(() => parsePeftConfig({ method: "lroa" }), configError(/unknown method "lroa"; expected one of snell, snella, lora, adapter, bitfit, linear, full/));
    assert.throws(() => parsePeftConfig({ rank: 4 }), configError(/missing field "method"/));
    assert.throws(() => parsePeftConfig([1]), configError(/must be a JSON object/));
  });
  test("wrong types, ranges and unknown fields name the field", () => {
    assert.throws(() => parsePeftConfig({ method: "lora", rank: "8" }), configError(/lora\.rank must be a number, got "8"/));
    assert.throws(() => parsePeftConfig({ method: "lora", rank: 0 }), configError(/lora\.rank must be a positive integer, got 0/));
    assert.throws(() => parsePeftConfig({ method: "lora", dropout: 1 }), configError(/lora\.dropout must be in \[0, 1\)/));
    assert.throws(() => parsePeftConfig({ method: "lora", targetModules: "attn.q" }), configError(/lora\.targetModules must be a array/));
    assert.throws(() => parsePeftConfig({ method: "lora", targetModules: ["attn.q", 3] }), configError(/lora\.targetModules\[1\] must be a string/));
    assert.throws(() => parsePeftConfig({ method: "lora", layers: [0, -1] }), configError(/lora\.layers\[1\] must be a block index/));
    assert.throws(() => parsePeftConfig({ method: "lora", layers: [1, 1] }), configError(/lora\.layers lists a block twice/));
    assert.throws(() => parsePeftConfig({ method: "lora", rnak: 4 }), configError(/lora: unknown field "rnak"; expected one of rank, alpha/));
    assert.throws(() => parsePeftConfig({ method: "lora", targetModules: ["/[/"] }), configError(/lora\.targetModules: invalid regex/));
    assert.throws(() => parsePeftConfig({ method: "adapter", placement: "serial" }), configError(/unknown adapter\.placement "serial"; expected one of sequential, parallel/));
    assert.throws(() => parsePeftConfig({ method: "bitfit", targetModules: ["attn.q"] }), configError(/bitfit\.targetModules must be empty/));
    assert.throws(() => parsePeftConfig({ method: "lora", target_modules: ["q"], targetModules: ["k"] }), configError(/given twice/));
  });
});

/** A valid third-party method: IA3-style per-channel scaling of the output. */
function ia3(over: Partial<PeftMethod<GenericPeftConfig>> = {}): PeftMethod<GenericPeftConfig> {
  return {
    name: "ia3",
    prefix: "ia3_",
    defaults: { targetModules: ["attn.k", "attn.v"], modulesToSave: ["head"] },
    validate() {},
    init(params, site) { params.add(`${site.path}.ia3_scale`, [site.nOut], new Float32Array(site.nOut).fill(1), { trainable: true }); },
    adapt: ({ g, bind, site, y }) => g.Mul(y, bind.get(`${site.path}.ia3_scale`)),
    ...over,
  };
}

describe("method registry", () => {
  test("every built-in method passes the registration checks", () => {
    for (const m of allMethods()) checkMethod(m);
    assert.ok(allMethods().length >= 5);
  });
  test("a well-formed third-party method registers, parses and can be removed again", () => {
    registerMethod(ia3());
    try {
      assert.equal(getMethod("ia3").prefix, "ia3_");
      assert.deepEqual(parsePeftConfig({ method: "ia3" }), { method: "ia3", targetModules: ["attn.k", "attn.v"], modulesToSave: ["head"] });
      assert.throws(() => registerMethod(ia3()), configError(/the id is taken/));
    } finally {
      unregisterMethod("ia3");
    }
    assert.throws(() => getMethod("ia3"), configError(/unknown method "ia3"/));
  });
  test("bad third-party methods are rejected with the rule they break", () => {
    const cases: [string, Partial<PeftMethod<GenericPeftConfig>>, RegExp][] = [
      ["upper-case id", { name: "IA3" }, /lower-case letters/],
      ["a built-in's id", { name: "lora", prefix: "lora2_" }, /the id is taken/],
      ["prefix without _", { prefix: "ia3" }, /prefix must be lower-case and end with "_"/],
      ["a prefix overlapping LoRA's", { prefix: "lora_" }, /prefix "lora_" is not unique; it overlaps "lora_" of method "lora"/],
      ["missing defaults", { defaults: { targetModules: ["q"] } as never }, /defaults must include targetModules and modulesToSave/],
      ["defaults its own validate rejects", { validate: () => { throw new ConfigError("ia3.x bad"); } }, /its own defaults fail its validate\(\): ia3\.x bad/],
      ["tensors outside the prefix", { init: (ps, s) => { ps.add(`${s.path}.scale`, [s.nOut], new Float32Array(s.nOut)); } }, /init created "blocks\.0\.probe\.scale"; every tensor must be named "blocks\.0\.probe\.ia3_<name>"/],
      ["tensors with a nested path", { init: (ps, s) => { ps.add(`${s.path}.ia3_x.w`, [1], new Float32Array(1)); } }, /no further "\."/],
      ["an init that throws", { init: () => { throw new Error("boom"); } }, /init failed on site "blocks\.0\.probe": boom/],
      ["adapt missing", { adapt: undefined as never }, /"adapt" must be a function/],
    ];
    for (const [what, over, re] of cases) {
      assert.throws(() => registerMethod(ia3(over)), configError(re), what);
      unregisterMethod("ia3");
    }
  });
});

test("nested defaults merge field by field and name nested fields in errors (SNELLA's allocator)", () => {
  const c = parsePeftConfig({ method: "snella", allocator: { init_warmup: 3 } }) as unknown as { allocator: Record<string, unknown> };
  assert.equal(c.allocator.initWarmup, 3);
  assert.equal(c.allocator.beta1, 0.85);
  assert.throws(() => parsePeftConfig({ method: "snella", allocator: { beta3: 1 } }), configError(/snella\.allocator: unknown field "beta3"/));
  assert.throws(() => parsePeftConfig({ method: "snella", allocator: { beta1: "x" } }), configError(/snella\.allocator\.beta1 must be a number/));
  assert.throws(() => parsePeftConfig({ method: "snell", rank: 6, groups: 4 }), configError(/snell\.rank \(6\) must be divisible by the kernel groups \(4\)/));
});
