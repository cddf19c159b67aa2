/**
 * @file The Stepper's device-state hand-overs on webgpu: a step rerun in a second session (SNELL's
 * exact-threshold rerun) starts from a snapshot of the device state and hands its result back, giving
 * the same bytes as the step taken once; evaluation with other values (the EMA) restores the live
 * state; nothing stays held after release. Skips without a WebGPU adapter.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { applyAdapters } from "../../src/peft/apply.js";
import type { MethodRuntime } from "../../src/peft/method.js";
import { Rng } from "../../src/random.js";
import { releaseReadBackSessions } from "../../src/runtime/read-back.js";
import { heldDeviceTensors } from "../../src/runtime/tensor-refs.js";
import { RunInputs } from "../../src/train/run-inputs.js";
import { Stepper } from "../../src/train/stepper.js";
import { resolveTrainerConfig } from "../../src/train/trainer-config.js";
import { webgpuSkip } from "../helpers/webgpu.js";

const TINY: VitConfig = { imgSize: 8, patchSize: 4, inChans: 1, numClasses: 3, embedDim: 8, depth: 1, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };
const B = 4;
const cfg = resolveTrainerConfig({ batchSize: B, evalBatchSize: B, lr: 1e-2, warmupEpochs: 0 });

function batch(seed: number) {
  const rng = new Rng(seed);
  return {
    images: Float32Array.from({ length: B * 64 }, () => rng.uniform() - 0.5),
    labels: BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 3)),
    weights: Float32Array.of(1, 1, 1, 1),
  };
}

/** A LoRA model and a Stepper on webgpu; `alwaysRerun` makes every step and evaluation go through the rerun session. */
async function stepper(alwaysRerun: boolean): Promise<Stepper> {
  const pm = applyAdapters({ cfg: TINY, params: createVitParams(TINY, new Rng(1)), name: "vit_stepper_test" }, { method: "lora", rank: 2 }, { seed: 2 });
  const runtime: MethodRuntime = alwaysRerun ? { rerun: { needed: () => true, config: pm.config } } : {};
  return Stepper.create(pm, cfg, runtime, new RunInputs(0), { device: "webgpu", intraOpThreads: 1 });
}

const hex = (t: Record<string, Float32Array>) => Object.fromEntries(Object.entries(t).map(([n, a]) => [n, Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex")]));

describe("Stepper on webgpu", { skip: await webgpuSkip() }, () => {
  after(releaseReadBackSessions);

  test("a rerun step hands the device state between sessions and ends with the bytes of the step taken once", async () => {
    const held0 = heldDeviceTensors();
    const once = await stepper(false), rerun = await stepper(true);
    const lo: number[] = [], lr: number[] = [];
    for (let i = 0; i < 3; i++) {
      lo.push((await once.step(batch(i), 1e-2)).loss);
      lr.push((await rerun.step(batch(i), 1e-2)).loss);
    }
    assert.deepEqual(lr, lo);
    assert.equal(rerun.steps, 3);
    assert.deepEqual(hex(await rerun.trained()), hex(await once.trained()));
    assert.deepEqual([...await rerun.evalLogits({ images: batch(7).images })], [...await once.evalLogits({ images: batch(7).images })]);

    // Evaluating other values (an EMA) and coming back leaves the live state as it was.
    const live = hex(await once.trained());
    const zeros = Object.fromEntries(Object.entries(await once.trained()).map(([n, a]) => [n, new Float32Array(a.length)]));
    const shifted = await once.withValues(zeros, () => once.evalLogits({ images: batch(7).images }));
    assert.notDeepEqual([...shifted], [...await once.evalLogits({ images: batch(7).images })]);
    assert.deepEqual(hex(await once.trained()), live);
    assert.equal((await once.step(batch(3), 1e-2)).loss, (await rerun.step(batch(3), 1e-2)).loss);

    await once.release();
    await rerun.release();
    assert.equal(heldDeviceTensors(), held0, "device tensors left after release");
  });
});
