/**
 * @file The `device` session option: CPU runs, and a GPU provider that cannot start is one ConfigError
 * naming the fix (no silent fallback to CPU), through CompiledGraph and TrainSession. On a machine where
 * the provider does start, the WebGPU case checks the result against CPU instead.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { crossEntropy } from "../../src/ir/losses.js";
import { ParamBinder, ParameterStore } from "../../src/ir/parameters.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { CUDA_INSTALL, parseDevice, providerError } from "../../src/runtime/device.js";
import { TrainSession } from "../../src/train/step-session.js";

/** y = tanh(x) @ w + 1 on a [2, 3] x [3, 2]: a few kernels, values that are not their inputs. */
function smallGraph(): GraphBuilder {
  const g = new GraphBuilder("device_probe");
  const x = g.input("x", [2, 3]);
  const w = g.input("w", [3, 2]);
  g.output(g.Add(g.MatMul(g.Tanh(x), w), g.scalar(1)), "y");
  return g;
}
const feeds = { x: Float32Array.from([0.5, -1, 2, 0.25, 0, -0.75]), w: Float32Array.from([1, -2, 0.5, 3, -1, 0.25]) };

/** onnxruntime-node's CUDA provider library, present only after the cuda12 install. */
function cudaProviderInstalled(): boolean {
  const pkg = dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
  return existsSync(join(pkg, "bin/napi-v6", process.platform, process.arch, "libonnxruntime_providers_cuda.so"));
}

describe("device option", () => {
  test("parseDevice names the valid devices for an unknown one", () => {
    assert.equal(parseDevice("webgpu"), "webgpu");
    assert.throws(() => parseDevice("gpu"), (e: Error) => e instanceof ConfigError && /"gpu".*cpu, webgpu, cuda/.test(e.message));
  });

  test("an unknown device from an untyped caller is a ConfigError, not a CPU run", async () => {
    await assert.rejects(CompiledGraph.compile(smallGraph(), { device: "metal" as never }), ConfigError);
  });

  test("device cpu computes the graph", async () => {
    const c = await CompiledGraph.compile(smallGraph(), { device: "cpu" });
    const y = (await c.run(feeds)).y!.data as Float32Array;
    await c.release();
    // Row 0: tanh([0.5, -1, 2]) @ w + 1, by hand.
    const t = [Math.tanh(0.5), Math.tanh(-1), Math.tanh(2)];
    assert.ok(Math.abs(y[0]! - (t[0]! * 1 + t[1]! * 0.5 + t[2]! * -1 + 1)) < 1e-6);
    assert.ok(Math.abs(y[1]! - (t[0]! * -2 + t[1]! * 3 + t[2]! * 0.25 + 1)) < 1e-6);
  });

  test("cuda without its provider: one ConfigError with the install command", { skip: cudaProviderInstalled() && "the CUDA provider is installed here" }, async () => {
    await assert.rejects(CompiledGraph.compile(smallGraph(), { device: "cuda" }), (e: Error) => {
      assert.ok(e instanceof ConfigError, `${e.name}: ${e.message}`);
      assert.ok(e.message.includes(CUDA_INSTALL) && /CUDA 12/.test(e.message) && /cuDNN 9/.test(e.message), e.message);
      assert.equal(e.message.split("\n").length, 1);
      return true;
    });
  });

  test("webgpu: a ConfigError naming Vulkan where no adapter exists, else the CPU result", async () => {
    const cpu = await CompiledGraph.compile(smallGraph(), { device: "cpu" });
    const want = (await cpu.run(feeds)).y!.data as Float32Array;
    await cpu.release();
    let gpu: CompiledGraph;
    try {
      gpu = await CompiledGraph.compile(smallGraph(), { device: "webgpu" });
    } catch (e) {
      assert.ok(e instanceof ConfigError, `${(e as Error).name}: ${(e as Error).message}`);
      assert.match(e.message, /device "webgpu": no WebGPU adapter .*Vulkan/);
      return;
    }
    const got = (await gpu.run(feeds)).y!.data as Float32Array;
    await gpu.release();
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-5, `y[${i}] ${got[i]} vs ${want[i]}`);
  });

  test("TrainSession passes device to its step graph", { skip: cudaProviderInstalled() && "the CUDA provider is installed here" }, async () => {
    const params = new ParameterStore();
    params.add("w", [3, 2], Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]), { trainable: true });
    const spec = {
      params,
      build(g: GraphBuilder, bind: ParamBinder) {
        const x = g.input("x", [2, 3]);
        const labels = g.input("labels", [2], "int64");
        const logits = g.MatMul(x, bind.get("w"));
        return { logits, loss: crossEntropy(g, logits, labels) };
      },
      optimizer: { kind: "sgd" as const, weightDecay: 0 },
    };
    const cpu = await TrainSession.create(spec, { device: "cpu" });
    assert.ok(Number.isFinite((await cpu.step({ x: feeds.x, labels: BigInt64Array.from([0n, 1n]) }, 0.1)).loss));
    await cpu.release();
    await assert.rejects(TrainSession.create(spec, { device: "cuda" }), (e: Error) => e instanceof ConfigError && e.message.includes(CUDA_INSTALL));
  });

  test("other ORT failures stay RuntimeErrors: only a provider that cannot start is mapped", () => {
    assert.equal(providerError("cuda", new Error("Type Error: Type (tensor(int64)) of input parameter is invalid")), null);
    assert.equal(providerError("cpu", new Error("Failed to load shared library")), null);
  });
});
