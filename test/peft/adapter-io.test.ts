/** @file Adapter files: what they hold, and loading refuses another base model or config, naming what differs. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readSafetensors, writeSafetensors } from "../../src/checkpoint/safetensors.js";
import { ConfigError } from "../../src/errors.js";
import { ParameterStore } from "../../src/ir/parameters.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LIBRARY } from "../../src/peft/adapter-io.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";

const cfg: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 5, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };
const tmp = mkdtempSync(join(tmpdir(), "peft-io-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const base = createVitParams(cfg, new Rng(1));
const lora = { method: "lora", rank: 4, targetModules: ["attn.q", "attn.v"] };
const dir = join(tmp, "lora");
applyAdapters({ cfg, params: base, name: "tiny" }, lora, { seed: 1 }).saveAdapter(dir);
const refused = (re: RegExp) => (e: Error) => e instanceof ConfigError && re.test(e.message);

describe("saveAdapter", () => {
  test("adapter_config.json holds the full method config, the base model's identity and the library version", () => {
    const j = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG_FILE), "utf8"));
    assert.equal(j.method, "lora");
    assert.equal(j.rank, 4);
    assert.equal(j.alpha, 8, "defaults are written out");
    assert.equal(j.peft_type, "LORA");
    assert.equal(j.base_model_name_or_path, "tiny");
    assert.match(j.base_model.fingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(j.base_model.config, cfg);
    assert.equal(j.base_model.num_params, 32005);
    assert.deepEqual([j.library, j.library_version], [LIBRARY.name, LIBRARY.version]);
  });
  test("adapter_model.safetensors holds only the trained tensors", () => {
    const t = readSafetensors(join(dir, ADAPTER_WEIGHTS_FILE));
    const want = ["cls_token", "head.weight", "head.bias"];
    for (const b of [0, 1]) for (const s of ["q", "v"]) want.push(`blocks.${b}.attn.${s}.lora_A`, `blocks.${b}.attn.${s}.lora_B`);
    assert.deepEqual([...t.keys()].sort(), want.sort());
    assert.deepEqual(t.get("blocks.1.attn.v.lora_A")!.shape, [32, 4]);
  });
});

describe("loadAdapter refuses a mismatch, naming what differs", () => {
  test("another architecture", () => {
    const cfg3 = { ...cfg, depth: 3 };
    const pm = applyAdapters({ cfg: cfg3, params: createVitParams(cfg3, new Rng(1)), name: "tiny" }, lora);
    assert.throws(() => pm.loadAdapter(dir), refused(/different base model: depth: 2 in the adapter, 3 here/));
  });
  test("other parameter names or shapes under the same config", () => {
    const ps = new ParameterStore();
    for (const p of base.list()) ps.add(p.name === "norm.weight" ? "fc_norm.weight" : p.name, p.shape, p.data);
    const pm = applyAdapters({ cfg, params: ps, name: "tiny" }, lora);
    assert.throws(() => pm.loadAdapter(dir), refused(/other parameter names or shapes \(fingerprint sha256:/));
  });
  test("another checkpoint name, unless told to ignore it", () => {
    const pm = applyAdapters({ cfg, params: base, name: "vit_tiny.other" }, lora);
    assert.throws(() => pm.loadAdapter(dir), refused(/trained on base model "tiny", this model is "vit_tiny\.other"/));
    pm.loadAdapter(dir, { ignoreBaseName: true });
  });
  test("another PEFT config", () => {
    const pm = applyAdapters({ cfg, params: base, name: "tiny" }, { ...lora, rank: 2 });
    assert.throws(() => pm.loadAdapter(dir), refused(/another PEFT config than this model: rank: 4 in the adapter, 2 here/));
  });
  test("a weights file with a missing, extra or misshapen tensor", () => {
    const pm = applyAdapters({ cfg, params: base, name: "tiny" }, lora);
    const t = readSafetensors(join(dir, ADAPTER_WEIGHTS_FILE));
    const bad = join(tmp, "bad");
    pm.saveAdapter(bad);
    const file = join(bad, ADAPTER_WEIGHTS_FILE);
    const write = (m: Map<string, { shape: number[]; data: Float32Array }>) => writeSafetensors(file, m);
    write(new Map([...t].filter(([k]) => k !== "head.bias")));
    assert.throws(() => pm.loadAdapter(bad), refused(/missing tensors head\.bias/));
    write(new Map<string, { shape: number[]; data: Float32Array }>([...t, ["blocks.0.attn.k.lora_A", { shape: [32, 4], data: new Float32Array(128) }]]));
    assert.throws(() => pm.loadAdapter(bad), refused(/unexpected tensors blocks\.0\.attn\.k\.lora_A/));
    write(new Map([...t].map(([k, v]) => [k, k === "head.bias" ? { shape: [1, 5], data: v.data } : v])));
    assert.throws(() => pm.loadAdapter(bad), refused(/tensor "head\.bias" has shape \[1, 5\], the model expects \[5\]/));
  });
});

test("modulesToSave entries must match a parameter unless they are the method's defaults", () => {
  assert.throws(() => applyAdapters({ cfg, params: base }, { ...lora, modulesToSave: ["head", "pos_embd"] }), refused(/lora\.modulesToSave: "pos_embd" matches no parameter/));
  const noHead = { ...cfg, numClasses: 0 };
  const pm = applyAdapters({ cfg: noHead, params: createVitParams(noHead, new Rng(1)) }, lora);
  assert.deepEqual(pm.params.trainable().filter((p) => !p.name.includes("lora_")).map((p) => p.name), ["cls_token"]);
});
