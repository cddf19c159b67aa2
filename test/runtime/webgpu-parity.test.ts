/**
 * @file Training on Node's WebGPU provider matches CPU: five AdamW steps of each method on a tiny ViT
 * (and SNELL on a tiny Swin and ConvNeXt), with the methods' dropout / drop-path and the backbone's
 * stochastic depth on, from the same init and batch on both devices. Losses agree within 1e-4
 * relative and every trained tensor within 1e-4 in the relative max norm
 * (max |gpu - cpu| / max(1, max |cpu|)). The seeded masks are int32 arithmetic on both devices, so
 * they are the same bits; what differs is float rounding in reductions. Skips without a WebGPU adapter.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { GraphBuilder } from "../../src/ir/builder.js";
import { backboneOf, resolveVariant } from "../../src/models/registry.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import type { Device } from "../../src/runtime/device.js";
import { trainSteps } from "../helpers/train-steps.js";
import { webgpuSkip } from "../helpers/webgpu.js";

const B = 2, STEPS = 5;
const LOSS_RTOL = 1e-4, TENSOR_TOL = 1e-4;

/** Five steps of `method` on `model` (a fresh, seeded init each call): the losses and trained tensors. */
async function run(model: string, method: Record<string, unknown>, device: Device): Promise<{ losses: number[]; tensors: Map<string, Float32Array> }> {
  const v = resolveVariant(model, { numClasses: 4 });
  const rng = new Rng(7);
  const pm = applyAdapters({ cfg: v.config, params: backboneOf(v.config).createParams(v.config, rng) } as never, method, { seed: 1 });
  const { inChans, imgSize } = pm.cfg;
  const images = Float32Array.from({ length: B * inChans * imgSize * imgSize }, () => rng.normal());
  const labels = BigInt64Array.from([1n, 3n]);
  // lr 1e-3: AdamW moves an entry whose gradient is ~0 by up to lr a step whatever its sign, so
  // rounding-level gradient differences show at lr scale in such entries (BitFit's biases: 9e-5 at 3e-3).
  const { losses } = await trainSteps(pm, images, labels, STEPS, { lr: 1e-3, device, seedOf: (i) => 1000 + i });
  const tensors = new Map(pm.params.trainable().map((p) => [p.name, Float32Array.from(p.data)]));
  return { losses, tensors };
}

/** max |a - b| / max(1, max |a|) */
function relMax(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 1;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(a[i]!)); }
  return d / m;
}

const CASES: [string, Record<string, unknown>][] = [
  ["vit_test", { method: "snell", rank: 4 }],
  ["vit_test", { method: "snella", rank: 4 }],
  ["vit_test", { method: "lora", rank: 4, dropout: 0.1, dropPath: 0.1 }],
  ["vit_test", { method: "adapter", dropout: 0.1 }],
  ["vit_test", { method: "bitfit" }],
  ["vit_test", { method: "linear" }],
  ["swin_test", { method: "snell", rank: 4 }],
  ["convnext_test", { method: "snell", rank: 4 }],
];

describe("training on WebGPU matches CPU", { skip: await webgpuSkip() }, () => {
  test("dropout and drop-path masks are the same bits on both devices (int64 and int32 seeds, odd sizes)", async () => {
    const g = new GraphBuilder("masks");
    const seed = g.input("seed", [], "int64"), seed32 = g.input("seed32", [], "int32");
    const x = g.input("x", [37, 29]);
    g.output(g.dropout(x, 0.3, seed), "d");
    g.output(g.dropPath(x, 0.5, seed32), "p");
    g.output(g.dropout(g.Reshape(x, [1073]), 0.1, seed32, 7), "d1");
    const out = async (device: Device) => {
      const c = await CompiledGraph.compile(g, { device, weights: "graph" });
      const r = await c.run({ seed: BigInt64Array.of(-123456789012n), seed32: Int32Array.of(99), x: new Float32Array(37 * 29).fill(1) });
      await c.release();
      return ["d", "p", "d1"].map((k) => Array.from(r[k]!.data as Float32Array));
    };
    const [cpu, gpu] = [await out("cpu"), await out("webgpu")];
    cpu.forEach((m, k) => assert.deepEqual(gpu[k], m, `mask ${k}`));
    assert.ok(cpu.every((m) => m.includes(0) && m.some((v) => v > 1)), "every mask drops some and keeps some");
  });

  for (const [model, method] of CASES) {
    test(`${model} + ${method.method}: ${STEPS} steps`, async (t) => {
      const cpu = await run(model, method, "cpu");
      const gpu = await run(model, method, "webgpu");
      const lossErr = Math.max(...cpu.losses.map((l, i) => Math.abs(gpu.losses[i]! - l) / Math.abs(l)));
      let worst = 0, worstName = "";
      for (const [name, a] of cpu.tensors) {
        const e = relMax(a, gpu.tensors.get(name)!);
        if (e > worst) { worst = e; worstName = name; }
      }
      t.diagnostic(`losses ${cpu.losses.map((l) => l.toFixed(5)).join(" ")}; max loss rel err ${lossErr.toExponential(2)}; worst tensor ${worstName} ${worst.toExponential(2)}`);
      assert.ok(cpu.losses[0] !== cpu.losses.at(-1), "the run trained (its loss changed)");
      assert.ok(lossErr < LOSS_RTOL, `losses differ by ${lossErr} relative: cpu ${cpu.losses.join(", ")} vs webgpu ${gpu.losses.join(", ")}`);
      assert.ok(worst < TENSOR_TOL, `trained tensor ${worstName} differs by ${worst} (max |gpu - cpu| / max(1, max |cpu|))`);
    });
  }
});
