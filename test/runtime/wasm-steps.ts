/** @file The tiny training run wasm-parity.test.ts compares between onnxruntime-node and onnxruntime-web. */
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";
import { trainSteps } from "../helpers/train-steps.js";

const CFG: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 5, embedDim: 32, depth: 2, numHeads: 2, mlpRatio: 4, qkvBias: true, eps: 1e-6 };
const METHODS: Record<string, Record<string, unknown>> = {
  snell: { method: "snell", rank: 4, sparsity: 0.5 },
  lora: { method: "lora", rank: 4 },
};

/** Five AdamW steps of `method` on one seeded batch of 4 images: the losses and every trained tensor. */
export async function tinyRun(method: string): Promise<{ losses: number[]; tensors: Record<string, Float32Array> }> {
  const rng = new Rng(5);
  const pm = applyAdapters({ cfg: CFG, params: createVitParams(CFG, rng), name: "tiny" }, METHODS[method]!, { seed: 1 });
  const images = new Float32Array(4 * 3 * 16 * 16).map(() => rng.normal());
  const labels = BigInt64Array.from([0n, 1n, 2n, 3n]);
  const { losses } = await trainSteps(pm, images, labels, 5);
  return { losses, tensors: Object.fromEntries(pm.params.list().filter((p) => p.trainable).map((p) => [p.name, p.data])) };
}
