/**
 * @file The adapter folder changes as a whole: replaceDirAtomic swaps a filled temp folder in, a failed
 * fill leaves the old folder, and leftovers of a killed swap are restored or removed on the next call.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { recoverDir, replaceDirAtomic } from "../../src/checkpoint/atomic-dir.js";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, readAdapterConfig } from "../../src/peft/adapter-io.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "snell-adir-"));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const listing = (d: string) => fs.readdirSync(d).sort();
const read = (d: string) => Object.fromEntries(listing(d).map((n) => [n, fs.readFileSync(path.join(d, n), "utf8")]));

describe("replaceDirAtomic", () => {
  test("replaces every file at once and leaves no temp folder", () => {
    const dir = path.join(root, "a", "adapter");
    replaceDirAtomic(dir, (t) => { fs.writeFileSync(path.join(t, "x"), "1"); fs.writeFileSync(path.join(t, "old-only"), "1"); });
    replaceDirAtomic(dir, (t) => fs.writeFileSync(path.join(t, "x"), "2"));
    assert.deepEqual(read(dir), { x: "2" });
    assert.deepEqual(listing(path.dirname(dir)), ["adapter"]);
  });

  test("a fill that fails keeps the old folder and removes its temp", () => {
    const dir = path.join(root, "b", "adapter");
    replaceDirAtomic(dir, (t) => fs.writeFileSync(path.join(t, "x"), "old"));
    assert.throws(() => replaceDirAtomic(dir, (t) => { fs.writeFileSync(path.join(t, "x"), "new"); throw new Error("killed"); }), /killed/);
    assert.deepEqual(read(dir), { x: "old" });
    assert.deepEqual(listing(path.dirname(dir)), ["adapter"]);
  });

  test("leftovers of a kill are cleaned: a temp folder removed, a backup without its target restored", () => {
    const parent = path.join(root, "c");
    const dir = path.join(parent, "adapter");
    fs.mkdirSync(path.join(parent, ".adapter.99.0badcafe.tmp"), { recursive: true });
    fs.writeFileSync(path.join(parent, ".adapter.99.0badcafe.tmp", "x"), "half");
    fs.mkdirSync(path.join(parent, ".adapter.99.1badcafe.old"));
    fs.writeFileSync(path.join(parent, ".adapter.99.1badcafe.old", "x"), "previous");
    assert.equal(recoverDir(dir).length, 2);
    assert.deepEqual(listing(parent), ["adapter"]);
    assert.deepEqual(read(dir), { x: "previous" });
    fs.mkdirSync(path.join(parent, ".adapter.99.2badcafe.old"));
    replaceDirAtomic(dir, (t) => fs.writeFileSync(path.join(t, "x"), "next"));
    assert.deepEqual(listing(parent), ["adapter"], "a backup beside an existing target is removed");
  });
});

describe("saveAdapter", () => {
  const cfg: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 3, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };
  const base = { cfg, params: createVitParams(cfg, new Rng(1)), name: "tiny" };
  const lora = (rank: number) => applyAdapters(base, { method: "lora", rank, targetModules: ["attn.q"] }, { seed: 1 });

  test("a rank-4 save over a rank-8 adapter never leaves rank-4 weights beside a rank-8 config", () => {
    const dir = path.join(root, "run", "adapter");
    lora(8).saveAdapter(dir);
    // What made the old in-place writer fail between its two files: the config's temp name taken.
    fs.mkdirSync(path.join(dir, `.${ADAPTER_CONFIG_FILE}.${process.pid}.tmp`));
    try {
      lora(4).saveAdapter(dir);
    } catch {
      // A failed save must leave the previous adapter whole; checked below either way.
    }
    const rank = (readAdapterConfig(dir).config as unknown as { rank: number }).rank;
    const a = readSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE)).get("blocks.0.attn.q.lora_A")!;
    assert.equal(a.shape[1], rank, `weights of rank ${a.shape[1]} beside a config of rank ${rank}`);
    assert.deepEqual(listing(dir), [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]);
    assert.deepEqual(listing(path.dirname(dir)), ["adapter"]);
  });
});
