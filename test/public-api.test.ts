/** @file The package's public surface: the documented example runs and each layer is reachable. */
import assert from "node:assert/strict";
import { test } from "node:test";
import * as snellTs from "../src/index.js";

test("the index example builds a SNELL model and reports its trainable parameters", () => {
  const { models, peft, random } = snellTs;
  const cfg = { ...models.vitVariant("vit_small_patch16_224").config, depth: 2, numClasses: 10 };
  const base = { cfg, params: models.createVitParams(cfg, new random.Rng(0)) };
  const model = peft.applyAdapters(base, { method: "snell", rank: 8, sparsity: 0.9 });
  const { trainable, all } = model.trainableCounts();
  // Per block: q, k, v, proj (384 -> 384) and fc1/fc2 (384 <-> 1536) each with A [2, n_in, 4] and B [2, n_out, 4].
  const perBlock = 4 * (8 * 384 + 8 * 384) + 2 * (8 * 384 + 8 * 1536);
  assert.equal(trainable, 2 * perBlock + 384 * 10 + 10 + 384);
  assert.match(model.trainableReport(), /^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/);
  assert.ok(all > trainable);
});

test("every layer namespace is exported", () => {
  for (const ns of ["ir", "onnx", "models", "peft", "checkpoint", "data", "train", "random"] as const) {
    assert.equal(typeof snellTs[ns], "object", ns);
  }
  assert.equal(typeof snellTs.grad, "function");
  assert.equal(typeof snellTs.CompiledGraph, "function");
  assert.equal(typeof snellTs.ir.GraphBuilder, "function");
  assert.equal(typeof snellTs.train.TrainSession, "function");
});
