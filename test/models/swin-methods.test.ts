/**
 * @file Every PEFT method on a reduced Swin: a few training steps with backbone stochastic depth lower
 * the loss on a fixed batch; full fine-tuning trains the relative position tables too (their gradient
 * goes back through the Gather of the constant index).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createSwinParams, type SwinConfig } from "../../src/models/swin.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";
import { trainSteps } from "../helpers/train-steps.js";

const cfg: SwinConfig = { arch: "swin", imgSize: 32, patchSize: 4, inChans: 3, numClasses: 4, embedDim: 16, depths: [2, 2], numHeads: [2, 4], windowSize: 4, mlpRatio: 4, qkvBias: true, eps: 1e-5 };
const B = 2;
const images = Float32Array.from({ length: B * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37) + 0.3 * Math.cos(i * 0.011));

/** `n` steps on one fixed batch; the losses, the trainable names and whether `watch` moved. */
async function steps(method: Record<string, unknown>, watch: string | null = null, n = 4) {
  const pm = applyAdapters({ cfg, params: createSwinParams(cfg, new Rng(3)) }, method, { seed: 0 });
  const before = watch ? Float32Array.from(pm.params.get(watch).data) : null;
  const { losses } = await trainSteps(pm, images, BigInt64Array.from([1n, 3n]), n);
  const moved = watch && before ? pm.params.get(watch).data.some((v, i) => v !== before[i]) : null;
  return { losses, trainable: pm.params.trainable().map((p) => p.name), moved };
}

describe("methods on Swin", () => {
  for (const method of [
    { method: "snell", rank: 4 }, { method: "snella", rank: 4 }, { method: "lora", rank: 4 }, { method: "adapter" },
    { method: "bitfit" }, { method: "linear" },
  ]) {
    test(`${method.method}: a few steps with stochastic depth lower the loss`, async () => {
      const { losses, trainable } = await steps(method);
      assert.ok(trainable.includes("head.fc.weight"), "the head trains");
      assert.ok(losses.every(Number.isFinite) && losses.at(-1)! < losses[0]!, `losses ${losses.join(", ")}`);
    });
  }

  test("full: every tensor trains, the shifted block's relative position table included", async () => {
    const table = "layers.0.blocks.1.attn.relative_position_bias_table";
    const { losses, trainable, moved } = await steps({ method: "full" }, table);
    assert.ok(trainable.includes(table) && trainable.includes("layers.1.downsample.reduction.weight"));
    assert.equal(moved, true, "the table was updated");
    assert.ok(losses.every(Number.isFinite) && losses.at(-1)! < losses[0]!, `losses ${losses.join(", ")}`);
  });
});
