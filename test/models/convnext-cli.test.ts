/**
 * @file `snell` end to end on a reduced ConvNeXt (`--model convnext_test`): train with SNELL, the authors'
 * regularisers and stochastic depth, evaluate, merge, export, resume after SIGKILL to the same bytes, and
 * train from Facebook-layout weights written by the PyTorch fixture.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { convnextParamSpecs } from "../../src/models/convnext.js";
import { convnextVariant } from "../../src/models/convnext-variants.js";
import { assertEvalMergeExport, assertKilledRunResumes, inProcess } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

let tmp: ReturnType<typeof tempDir>;
let task: string;
const at = (name: string) => join(tmp.dir, name);
const MODEL = ["--model", "convnext_test", "--batch-size", "4", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress", "--threads", "1"];

before(async () => {
  tmp = tempDir("snell-convnext-cli-");
  task = at("task");
  await writeVtabTask(task, { numClasses: 3, perClass: 4, width: 32, height: 32 });
});
after(() => tmp.remove());

describe("snell with --model convnext_test", () => {
  test("train (SNELL, dropout/drop-path 0.1, stochastic depth 0.1), eval, merge and export", async () => {
    const r = await inProcess(["train", "--data", task, ...MODEL, "--method", "snell", "--rank", "4", "--sparsity", "0.5",
      "--dropout", "0.1", "--drop-path", "0.1", "--stochastic-depth", "0.1", "--epochs", "2", "--out", at("run")]);
    assert.equal(r.code, 0, r.stderr);
    console.log(r.stderr.split("\n").map((l) => `# ${l}`).join("\n"));
    const keys = [...readSafetensors(at("run/adapter/adapter_model.safetensors")).keys()];
    // 5 blocks x 2 sites (fc1, fc2) x (A, B), and the trained head (norm and fc, as the authors).
    assert.equal(keys.filter((k) => /^stages\.\d\.blocks\.\d\.mlp\.fc[12]\.snell_[AB]$/.test(k)).length, 20);
    for (const k of ["head.fc.weight", "head.fc.bias", "head.norm.weight", "head.norm.bias"]) assert.ok(keys.includes(k), k);

    await assertEvalMergeExport(at("run"), tmp.dir);
  });

  test("trains from Facebook's original .pth (the PyTorch fixture, convnext_test's shape): layout detected, only the head left out", async () => {
    const weights = new URL("../fixtures/convnext/fb.pth", import.meta.url).pathname;
    const r = await inProcess(["train", "--data", task, ...MODEL, "--method", "lora", "--rank", "2", "--epochs", "1", "--weights", weights, "--out", at("from-pth")]);
    assert.equal(r.code, 0, r.stderr);
    console.log(r.stderr.split("\n").slice(0, 4).map((l) => `# ${l}`).join("\n"));
    // Every backbone tensor came from the file; the 5-class head does not fit 3 classes.
    const n = convnextParamSpecs(convnextVariant("convnext_test", { numClasses: 3 }).config).length - 2;
    assert.match(r.stderr, new RegExp(`^loaded ${n} tensors from .*fb\\.pth \\(fb layout\\); head re-initialised for the new classes$`, "m"));
    assert.doesNotMatch(r.stderr, /unexpected|missing/);
  });

  test("a run killed after its first checkpoint resumes to the same adapter bytes and losses (image drop-path and stochastic-depth seeds included)", async () => {
    const args = ["train", "--data", task, ...MODEL, "--method", "snell", "--rank", "4", "--sparsity", "0.5", "--dropout", "0.1", "--drop-path", "0.1",
      "--stochastic-depth", "0.1", "--epochs", "10", "--eval-every", "0"];
    await assertKilledRunResumes(args, at("straight"), at("killed"));
  });
});
