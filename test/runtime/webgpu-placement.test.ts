/**
 * @file Training step graphs stay on the GPU: ViT, Swin and ConvNeXt (tiny test variants) with SNELL,
 * SNELLA and LoRA, their regularisers on (adapter dropout and drop-path, backbone stochastic depth: the
 * seeded hash), built as the trainer builds them, place no compute node on ORT's CPU provider when the
 * session runs on WebGPU, and copy nothing back to the host inside the step (ORT's verbose placement
 * log, read by test/helpers/placement.ts).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GraphBuilder } from "../../src/ir/builder.js";
import { backboneOf, resolveVariant } from "../../src/models/registry.js";
import { writeModel } from "../../src/onnx/writer.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { thresholdOf } from "../../src/peft/snell/threshold-graph.js";
import { Rng } from "../../src/random.js";
import { buildStepGraph } from "../../src/train/step-session.js";
import { stepGraphSpec } from "../../src/train/step-spec.js";
import { RunInputs } from "../../src/train/run-inputs.js";
import { resolveTrainerConfig } from "../../src/train/trainer-config.js";
import { weightPlacementFor } from "../../src/runtime/weight-placement.js";
import { placementsOf } from "../helpers/placement.js";
import { webgpuSkip } from "../helpers/webgpu.js";

const METHODS = [
  { method: "snell", rank: 4 },
  { method: "snella", rank: 4 },
  { method: "lora", rank: 4, dropout: 0.1, dropPath: 0.1 },
] as const;
const MODELS = ["vit_test", "swin_test", "convnext_test"] as const;

/** The step graph the trainer compiles for `model` with `method` (batch 2, stochastic depth 0.1), as ONNX bytes. */
function stepModel(model: string, method: Record<string, unknown>): { bytes: Uint8Array; seeds: Set<string> } {
  const v = resolveVariant(model, { numClasses: 4 });
  const params = backboneOf(v.config).createParams(v.config, new Rng(1));
  const pm = applyAdapters({ cfg: v.config, params } as never, method, { seed: 0 });
  const cfg = resolveTrainerConfig({ batchSize: 2, stochasticDepth: 0.1 });
  const { g } = buildStepGraph(stepGraphSpec(pm, cfg, new RunInputs(0)));
  const seedInputs = g.inputs.filter((x) => x.name.endsWith("_seed"));
  // Seeds are int32: an int64 one needed a Cast that WebGPU (no int64 arithmetic) leaves on CPU.
  assert.deepEqual(seedInputs.filter((x) => x.dtype !== "int32").map((x) => `${x.name}: ${x.dtype}`), [], "seed inputs not int32");
  const seeds = new Set(seedInputs.map((x) => x.name));
  return { bytes: writeModel(g, { weights: weightPlacementFor("webgpu") }).bytes, seeds };
}

describe("step graphs on WebGPU place no compute node on CPU", { skip: await webgpuSkip() }, () => {
  for (const model of MODELS) {
    for (const method of METHODS) {
      test(`${model} + ${method.method}`, async (t) => {
        const { bytes, seeds } = stepModel(model, method);
        assert.ok(seeds.size > 0, "the graph has seeded regularisers");
        const { placements } = await placementsOf(bytes, "webgpu");
        const cpu = placements.get("CPUExecutionProvider") ?? [];
        const gpu = placements.get("WebGpuExecutionProvider") ?? [];
        const byOp = new Map<string, number>();
        for (const n of cpu) byOp.set(n.op, (byOp.get(n.op) ?? 0) + 1);
        assert.ok(gpu.length > 100, `only ${gpu.length} nodes on WebGPU`);
        t.diagnostic(`${gpu.length} nodes on WebGPU (${gpu.filter((n) => n.op.startsWith("Memcpy")).length} of them copies)`);
        // No value goes back to the host inside a step (a read-back stalls the GPU queue); the only
        // copies upload fed inputs.
        assert.deepEqual(gpu.filter((n) => n.op === "MemcpyToHost").map((n) => n.name), [], "device-to-host copies inside the step");
        assert.equal(cpu.length, 0, `${cpu.length} of ${cpu.length + gpu.length} nodes on CPU: ` +
          `${[...byOp].map(([op, k]) => `${op} x${k}`).join(", ")}; first: ${cpu.slice(0, 5).map((n) => `${n.op} (${n.name})`).join("; ")}`);
      });
    }
  }

  test("the threshold's sample bracket (large matrices) with a fed s stays on WebGPU too", async () => {
    const g = new GraphBuilder("bracket");
    const r = thresholdOf(g, g.Abs(g.input("k", [300, 200])), g.input("s", []), { sample: 2048, exactMax: 0 });
    assert.equal(r.plan.exact, false);
    g.output(r.t, "t"); g.output(r.ok, "ok");
    const { placements } = await placementsOf(writeModel(g).bytes, "webgpu");
    assert.deepEqual(placements.get("CPUExecutionProvider") ?? [], []);
  });

  test("the parser reads ORT's one-provider form too (every node on WebGPU)", async () => {
    const g = new GraphBuilder("tiny");
    g.output(g.Tanh(g.input("x", [4])), "y");
    const { placements } = await placementsOf(writeModel(g).bytes, "webgpu");
    assert.deepEqual([...placements.keys()], ["WebGpuExecutionProvider"]);
  });
});
