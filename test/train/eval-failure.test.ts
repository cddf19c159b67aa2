/**
 * @file An evaluation that fails after the last epoch (an evaluation image broken while training ran)
 * still leaves the trained adapter and the final checkpoint: the failure costs the number, not the run.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { ListDataset } from "../../src/data/dataset.js";
import { readVtab } from "../../src/data/vtab.js";
import { makeTransform } from "../../src/data/transforms.js";
import { FormatError } from "../../src/errors.js";
import { createVitParams, type VitConfig } from "../../src/models/vit.js";
import { applyAdapters } from "../../src/peft/apply.js";
import { Rng } from "../../src/random.js";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { loadTrainingCheckpoint } from "../../src/train/checkpoint.js";
import { RUN_FILES, train } from "../../src/train/trainer.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

const TINY: VitConfig = { imgSize: 16, patchSize: 8, inChans: 3, numClasses: 3, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2, qkvBias: true, eps: 1e-6 };
const tmp = tempDir("snell-evalfail-");
after(() => tmp.remove());

test("a failed evaluation after the last epoch keeps the adapter and the checkpoint", async () => {
  const data = join(tmp.dir, "task");
  await writeVtabTask(data, { numClasses: 3, perClass: 2 });
  const trainSet = readVtab(data, "train800val200");
  const good = readVtab(data, "test", { numClasses: 3 });
  const broken = join(tmp.dir, "broken.png");
  fs.writeFileSync(broken, "not a png");
  const evalSet = new ListDataset([good.item(0), { source: broken, label: 1, origin: "test.txt:2" }], 3);
  const out = join(tmp.dir, "run");
  const pm = applyAdapters({ cfg: TINY, params: createVitParams(TINY, new Rng(1)), name: "tiny" }, { method: "lora", rank: 2 }, { seed: 2 });
  await assert.rejects(train({
    model: pm, train: trainSet, eval: evalSet, outDir: out,
    transforms: { train: makeTransform("snell-vtab", { train: true, size: 16 }), eval: makeTransform("snell-vtab", { train: false, size: 16 }) },
    config: { epochs: 2, batchSize: 4, evalEvery: 0, warmupEpochs: 0 },
  }), (e: unknown) => e instanceof FormatError && /broken\.png/.test(e.message));
  for (const f of ["adapter_config.json", "adapter_model.safetensors"]) assert.ok(fs.existsSync(join(out, RUN_FILES.adapter, f)), f);
  // The saved adapter is the trained one (LoRA's B starts at zero), and a checkpoint to resume from exists.
  const saved = readSafetensors(join(out, RUN_FILES.adapter, "adapter_model.safetensors"));
  const bs = [...saved].filter(([n]) => n.endsWith("lora_B"));
  assert.ok(bs.length > 0 && bs.every(([, t]) => t.data.some((v) => v !== 0)), "the adapter holds trained values");
  assert.ok(loadTrainingCheckpoint(join(out, RUN_FILES.checkpoint)).epoch >= 1);
});
