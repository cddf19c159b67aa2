/**
 * @file Weights past the 2 GiB protobuf limit: a lazily built 2.5 GiB graph runs with its weights fed
 * as graph inputs, and initializers saved as ONNX external data load from the model's path.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { saveModel } from "../../src/onnx/external-data.js";
import { onnx } from "../../src/onnx/proto.js";
import { PROTOBUF_LIMIT, writeModel } from "../../src/onnx/writer.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { ort } from "../../src/runtime/ort.js";

const K = 16384, N = 8192, MATS = 5; // 5 x 512 MiB = 2.5 GiB of float32 weights
const GiB = 2 ** 30;

/** W_i[k, j] = ((7k + 5i + 3j) mod 13 - 6) / 64: exact in float32, cheap to fill row by row. */
const wAt = (i: number, k: number, j: number) => (((7 * k + 5 * i + 3 * j) % 13) - 6) / 64;
const xAt = (k: number) => (k % 5) - 2;

function lazyWeight(i: number): () => Float32Array {
  return () => {
    // Only 13 distinct rows exist; copying them is far faster than computing 134M values.
    // Row k of W_i is row m = (7k + 5i) mod 13 of this table: W_i[k, j] = ((m + 3j) mod 13 - 6) / 64.
    const rows = Array.from({ length: 13 }, (_, m) => Float32Array.from({ length: N }, (_, j) => (((m + 3 * j) % 13) - 6) / 64));
    const w = new Float32Array(K * N);
    for (let k = 0; k < K; k++) w.set(rows[(7 * k + 5 * i) % 13]!, k * N);
    return w;
  };
}

describe("weights past the protobuf limit", () => {
  test("a 2.5 GiB lazily built graph compiles with weights as inputs, runs, and gives exact values", async () => {
    const t0 = performance.now();
    const g = new GraphBuilder();
    const x = g.input("x", [1, K]);
    let y = null;
    for (let i = 0; i < MATS; i++) {
      const w = g.initializer(`blocks.${i}.weight`, [K, N], lazyWeight(i));
      const p = g.scope(`blocks.${i}`, () => g.MatMul(x, w));
      y = y ? g.Add(y, p) : p;
    }
    g.output(y!, "y");
    assert.ok(MATS * K * N * 4 > PROTOBUF_LIMIT && MATS * K * N * 4 > 2 * GiB);

    // Forcing them into the protobuf is refused before any weight is materialised.
    assert.throws(() => writeModel(g, { weights: "graph" }), (e: Error) => e instanceof ConfigError && /2\.50 GiB.*protobuf limit/.test(e.message));
    const c = await CompiledGraph.compile(g, { intraOpThreads: 2 });
    assert.ok(c.modelBytes < 64 * 1024, `model is ${c.modelBytes} bytes; the weights must not be inside it`);
    const out = (await c.run({ x: Float32Array.from({ length: K }, (_, k) => xAt(k)) })).y!.data as Float32Array;
    assert.equal(out.length, N);
    for (const j of [0, 1, 2, 12, 13, 4095, 8191]) {
      let want = 0;
      for (let i = 0; i < MATS; i++) for (let k = 0; k < K; k++) want += xAt(k) * wAt(i, k, j);
      assert.equal(out[j], want, `y[${j}]`);
    }
    await c.release();
    const seconds = (performance.now() - t0) / 1000;
    const peakGiB = process.resourceUsage().maxRSS / 2 ** 20;
    console.log(`2.5 GiB weights: ${seconds.toFixed(1)} s, peak RSS ${peakGiB.toFixed(2)} GiB, model ${c.modelBytes} bytes`);
    assert.ok(peakGiB < 6, `peak RSS ${peakGiB.toFixed(2)} GiB`);
  });
});

describe("external data", () => {
  test("a model saved with an external-data side file loads from its path and gives the same output", async () => {
    const dir = mkdtempSync(join(tmpdir(), "snell-ext-"));
    try {
      const g = new GraphBuilder();
      const x = g.input("x", [2, 64]);
      const w1 = g.initializer("fc1.weight", [64, 48], () => Float32Array.from({ length: 64 * 48 }, (_, i) => Math.sin(i) / 8));
      const b1 = g.initializer("fc1.bias", [48], Float32Array.from({ length: 48 }, (_, i) => i / 100));
      const w2 = g.initializer("fc2.weight", [48, 10], Float32Array.from({ length: 480 }, (_, i) => Math.cos(i) / 4));
      g.output(g.linear(g.gelu(g.linear(x, w1, b1)), w2, null), "y");
      const feed = Float32Array.from({ length: 128 }, (_, i) => Math.sin(3 * i));

      const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
      const want = (await c.run({ x: feed })).y!.data as Float32Array;
      await c.release();

      const modelPath = join(dir, "mlp.onnx");
      const saved = saveModel(g, modelPath, { threshold: 1024 });
      // fc1.weight (12288 B) and fc2.weight (1920 B) go out; fc1.bias (192 B) stays in.
      assert.equal(statSync(saved.dataPath).size, saved.dataBytes);
      assert.ok(saved.dataBytes >= 12288 + 1920 && saved.dataBytes < 12288 + 1920 + 64);
      assert.ok(saved.modelBytes < 4096, `model file is ${saved.modelBytes} bytes`);

      const model = onnx.ModelProto.decode(readFileSync(modelPath));
      const inits = new Map((model.graph?.initializer ?? []).map((t) => [t.name, t]));
      const fc1 = inits.get("fc1.weight")!;
      assert.equal(fc1.dataLocation, onnx.TensorProto.DataLocation.EXTERNAL);
      const entry = Object.fromEntries((fc1.externalData ?? []).map((e) => [e.key, e.value]));
      assert.deepEqual(entry, { location: "mlp.onnx.data", offset: "0", length: "12288" });
      assert.equal(inits.get("fc1.bias")!.dataLocation ?? 0, onnx.TensorProto.DataLocation.DEFAULT);
      const fc2 = Object.fromEntries((inits.get("fc2.weight")!.externalData ?? []).map((e) => [e.key, e.value]));
      assert.equal(Number(fc2.offset) % 64, 0);

      const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
      const got = (await session.run({ x: new ort.Tensor("float32", feed, [2, 64]) })).y!.data as Float32Array;
      await session.release();
      assert.deepEqual([...got], [...want]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
