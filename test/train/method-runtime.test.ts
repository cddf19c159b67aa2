/**
 * @file The trainer drives a method only through its runtime hooks: a registered method's hooks
 * run in order, see the values after each step, feed its run inputs, and get their state back on
 * resume; SNELLA's allocator reallocates at epoch starts only; src/train names no method.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { applyAdapters } from "../../src/peft/apply.js";
import type { MethodRuntime, PeftMethod } from "../../src/peft/method.js";
import { registerMethod, unregisterMethod } from "../../src/peft/registry.js";
import { snella, sparsityInputName } from "../../src/peft/snella/index.js";
import { Rng } from "../../src/random.js";
import { train, type TrainOptions } from "../../src/train/trainer.js";
import { tempDir } from "../helpers/images.js";

const TINY: VitConfig = { imgSize: 8, patchSize: 4, inChans: 1, numClasses: 3, embedDim: 8, depth: 1, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };

function data(n: number, seed: number) {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  return { images: Float32Array.from({ length: n * 64 }, (_, i) => rng.uniform() - 0.5 + 0.4 * labels[Math.floor(i / 64)]!), labels, count: n };
}

function options(peft: Record<string, unknown>, config: TrainOptions["config"], outDir?: string): TrainOptions {
  const model = applyAdapters({ cfg: TINY, params: createVitParams(TINY, new Rng(1)), name: "vit_hooks_test" }, peft, { seed: 2 });
  return { model, train: data(12, 3), config: { batchSize: 4, lr: 1e-2, warmupEpochs: 0, ...config }, ...(outDir ? { outDir } : {}) };
}

/** A method that adds gain * (x @ W) on fc1, the gain a run input its runtime feeds, and records every hook call. */
interface ProbeConfig { method: "probe"; targetModules: string[]; modulesToSave: string[] }

function probeMethod(calls: string[], afterValues: Float32Array[], restored: unknown[]): PeftMethod<ProbeConfig> {
  const W = (path: string) => `${path}.probe_w`;
  return {
    name: "probe", prefix: "probe_", defaults: { targetModules: ["mlp.fc1"], modulesToSave: [] }, validate() {},
    init(params, site, _cfg, rng) { params.add(W(site.path), [site.nIn, site.nOut], Float32Array.from({ length: site.nIn * site.nOut }, () => rng.uniform() * 0.1), { trainable: true }); },
    adapt({ g, bind, site, x, y, runInput }) { return g.Add(y, g.Mul(g.MatMul(x, bind.get(W(site.path))), runInput("probe_gain", []))); },
    runtime(ctx): MethodRuntime {
      const name = W(ctx.sites[0]!.path);
      let count = 0;
      return {
        feeds: (step) => ({ probe_gain: Float32Array.of(1 + step / 10) }),
        fetchGrads: [name],
        beginEpoch: (e) => calls.push(`E${e}`),
        beginStep: (s) => calls.push(`S${s}`),
        afterStep: (r) => { calls.push(`A${r.globalStep}`); count++; assert.ok(r.grads[name]); afterValues.push(r.after(name).slice()); },
        exportState: () => ({ count }),
        importState: (s) => { restored.push(s); count = (s as { count: number }).count; },
      };
    },
  };
}

let tmp: ReturnType<typeof tempDir>;
before(() => { tmp = tempDir("snell-hooks-"); });
after(() => { tmp.remove(); unregisterMethod("probe"); });

describe("method runtime hooks", () => {
  test("run in order, see the values after each step, and get their state back on a mid-epoch resume", async () => {
    const calls: string[] = [], values: Float32Array[] = [], restored: unknown[] = [];
    registerMethod(probeMethod(calls, values, restored));
    const peft = { method: "probe" };
    const o = options(peft, { epochs: 2 });
    await train(o);
    assert.deepEqual(calls, ["E0", "S0", "A0", "S1", "A1", "S2", "A2", "E1", "S3", "A3", "S4", "A4", "S5", "A5"]);
    const wName = o.model.savedNames().find((n) => n.endsWith("probe_w"))!;
    assert.deepEqual(values.at(-1), o.model.params.get(wName).data, "afterStep sees the values after the update");
    assert.notDeepEqual(values[0], values[1]);

    calls.length = 0;
    const out = join(tmp.dir, "probe");
    const ac = new AbortController();
    let steps = 0;
    await train({ ...options(peft, { epochs: 2 }, out), signal: ac.signal, progress: { stream: { write: () => { if (++steps === 4) ac.abort(); return true; } } as never, tty: false, intervalMs: 0 } });
    calls.length = 0;
    const resumed = options(peft, { epochs: 2 }, out);
    await train({ ...resumed, resume: true });
    assert.deepEqual(restored, [{ count: 4 }]);
    // Resumed at epoch 2, step 2: no second beginEpoch(1).
    assert.deepEqual(calls, ["S4", "A4", "S5", "A5"]);
    assert.deepEqual(resumed.model.params.get(wName).data, o.model.params.get(wName).data, "the fed gains and state give the uninterrupted result");
  });

  test("SNELLA (allocator counted in epochs) changes a matrix's sparsity only at epoch starts", async () => {
    const fed: Array<Record<string, number>> = [];
    const original = snella.runtime!;
    snella.runtime = (ctx) => {
      const rt = original(ctx);
      return { ...rt, feeds: (step) => { const f = rt.feeds!(step); fed[step] = Object.fromEntries(Object.entries(f).filter(([n]) => n.endsWith("snella_sparsity")).map(([n, v]) => [n, Number(v[0])])); return f; } };
    };
    try {
      const allocator = { initSparsity: 0.2, initWarmup: 0, finalWarmup: 0, maskInterval: 1, beta1: 0.85, beta2: 0.85, unit: "epoch" };
      await train(options({ method: "snella", rank: 4, sparsity: 0.6, allocator }, { epochs: 3 }));
    } finally {
      snella.runtime = original;
    }
    assert.equal(fed.length, 9);
    const key = sparsityInputName("blocks.0.mlp.fc1");
    const epochOf = (s: number) => Math.floor(s / 3);
    for (let s = 1; s < 9; s++) {
      if (epochOf(s) === epochOf(s - 1)) assert.deepEqual(fed[s], fed[s - 1], `step ${s} changed the sparsity inside epoch ${epochOf(s) + 1}`);
    }
    assert.equal(fed[0]![key], Math.fround(0.2), "epoch 1 runs at the initial sparsity (position 0 is in the warm-up)");
    assert.notDeepEqual(fed[3], fed[0], "epoch 2 starts with a reallocation");
  });

  test("src/train imports no method and names none", () => {
    const dir = new URL("../../src/train/", import.meta.url);
    const methodDirs = fs.readdirSync(new URL("../../src/peft/", import.meta.url), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    assert.ok(methodDirs.includes("snella"));
    for (const f of fs.readdirSync(dir, { recursive: true }) as string[]) {
      if (!f.endsWith(".ts")) continue;
      const src = fs.readFileSync(new URL(f, dir), "utf8");
      for (const m of methodDirs) assert.doesNotMatch(src, new RegExp(`from "[./]*peft/${m}/`), `${f} imports peft/${m}`);
      assert.doesNotMatch(src, /method === "|\.method === '|SnellaAllocator|storeSparsity/, `${f} names a method`);
    }
  });
});
