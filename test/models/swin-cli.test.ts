/**
 * @file `snell` end to end on a reduced Swin (`--model swin_test`): train with SNELL, the authors'
 * regularisers and stochastic depth, evaluate, merge, export, resume after SIGKILL to the same bytes, and
 * train from Microsoft-layout weights written by the PyTorch fixture.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { SWIN_HEAD_INIT, swinParamSpecs } from "../../src/models/swin.js";
import { swinVariant } from "../../src/models/swin-variants.js";
import { assertEvalMergeExport, assertKilledRunResumes, inProcess } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

let tmp: ReturnType<typeof tempDir>;
let task: string;
const at = (name: string) => join(tmp.dir, name);
const MODEL = ["--model", "swin_test", "--arch", "imgSize=32", "--batch-size", "4", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress", "--threads", "1"];

before(async () => {
  tmp = tempDir("snell-swin-cli-");
  task = at("task");
  await writeVtabTask(task, { numClasses: 3, perClass: 4, width: 32, height: 32 });
});
after(() => tmp.remove());

describe("snell with --model swin_test", () => {
  test("train (SNELL, dropout/drop-path 0.1, stochastic depth 0.1), eval, merge and export", async () => {
    const r = await inProcess(["train", "--data", task, ...MODEL, "--method", "snell", "--rank", "4", "--sparsity", "0.5",
      "--dropout", "0.1", "--drop-path", "0.1", "--stochastic-depth", "0.1", "--epochs", "2", "--out", at("run")]);
    assert.equal(r.code, 0, r.stderr);
    console.log(r.stderr.split("\n").map((l) => `# ${l}`).join("\n"));
    const keys = [...readSafetensors(at("run/adapter/adapter_model.safetensors")).keys()];
    // 4 blocks x 6 sites x (A, B), and the trained head.
    assert.equal(keys.filter((k) => /^layers\.\d\.blocks\.\d\.(attn\.(q|k|v|proj)|mlp\.fc[12])\.snell_[AB]$/.test(k)).length, 48);
    assert.ok(keys.includes("head.fc.weight") && keys.includes("head.fc.bias"));
    const runJson = JSON.parse(fs.readFileSync(at("run/run.json"), "utf8")) as { behaviour: { headInit: string } };
    assert.equal(runJson.behaviour.headInit, SWIN_HEAD_INIT);

    await assertEvalMergeExport(at("run"), tmp.dir);
  });

  test("trains from Microsoft's original .pth (the PyTorch fixture, swin_test's shape): layout detected, only the head left out", async () => {
    const weights = new URL("../fixtures/swin/model_original.pth", import.meta.url).pathname;
    const r = await inProcess(["train", "--data", task, ...MODEL, "--method", "lora", "--rank", "2", "--epochs", "1", "--weights", weights, "--out", at("from-pth")]);
    assert.equal(r.code, 0, r.stderr);
    console.log(r.stderr.split("\n").slice(0, 4).map((l) => `# ${l}`).join("\n"));
    // Every backbone tensor came from the file; the 5-class head does not fit 3 classes.
    const n = swinParamSpecs(swinVariant("swin_test", { numClasses: 3 }).config).length - 2;
    assert.match(r.stderr, new RegExp(`^loaded ${n} tensors from .*model_original\\.pth \\(original layout\\); head re-initialised for the new classes$`, "m"));
    assert.doesNotMatch(r.stderr, /unexpected|missing/);
    // A layout Swin does not have is one line, exit 2.
    const bad = await inProcess(["train", "--data", task, ...MODEL, "--method", "lora", "--epochs", "1", "--weights", weights, "--weights-format", "npz", "--out", at("bad")]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /^snell: error: .*unknown Swin weight layout "npz"; expected one of timm, original$/m);
  });

  test("a run killed after its first checkpoint resumes to the same adapter bytes and losses (window drop-path and stochastic-depth seeds included)", async () => {
    const args = ["train", "--data", task, ...MODEL, "--method", "snell", "--rank", "4", "--sparsity", "0.5", "--dropout", "0.1", "--drop-path", "0.1",
      "--stochastic-depth", "0.1", "--epochs", "10", "--eval-every", "0"];
    await assertKilledRunResumes(args, at("straight"), at("killed"));
  });
});
