/**
 * @file `--backbone-precision int8` through the CLI on `--model vit_test`: train records it in run.json,
 * eval/merge/export read it back (a flag overrides it), `merge --int8` writes an int8 ONNX model that
 * onnxruntime runs, and full fine-tuning is refused with one line.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { checkOptions } from "../../src/cli/option-rules.js";
import { onnx } from "../../src/onnx/proto.js";
import { ort } from "../../src/runtime/ort.js";
import { assertUserError, inProcess } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

let tmp: ReturnType<typeof tempDir>;
let task: string;
const at = (name: string) => join(tmp.dir, name);
const MODEL = ["--model", "vit_test", "--batch-size", "4", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress", "--threads", "1"];

before(async () => {
  tmp = tempDir("snell-int8-cli-");
  task = at("task");
  await writeVtabTask(task, { numClasses: 3, perClass: 4, width: 32, height: 32 });
});
after(() => tmp.remove());

describe("--backbone-precision int8 on the command line", () => {
  test("train records it; eval, merge, merge --int8 and export use it", async () => {
    const r = await inProcess(["train", "--data", task, ...MODEL, "--method", "snell", "--rank", "4", "--sparsity", "0.5", "--epochs", "2",
      "--backbone-precision", "int8", "--out", at("run")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /int8 block linears/);
    const run = JSON.parse(fs.readFileSync(at("run/run.json"), "utf8"));
    assert.equal(run.config.backbonePrecision, "int8");
    assert.equal(run.spec.backbonePrecision, "int8");

    const evalRun = async (extra: string[]) => {
      const ev = await inProcess(["eval", "--out", at("run"), "--threads", "1", ...extra]);
      assert.equal(ev.code, 0, ev.stderr);
      return ev.stdout + ev.stderr;
    };
    // An int8 backbone evaluates unmerged (merging would requantize W0 + dW); fp32 merges SNELL.
    assert.doesNotMatch(await evalRun([]), /adapter merged/);
    assert.match(await evalRun(["--backbone-precision", "fp32"]), /adapter merged into the weights/);

    const m = await inProcess(["merge", "--out", at("run"), "--int8", "--batch", "2", "--output", at("int8.onnx")]);
    assert.equal(m.code, 0, m.stderr);
    const model = onnx.ModelProto.decode(fs.readFileSync(at("int8.onnx")));
    const ops = new Set((model.graph?.node ?? []).map((n) => n.opType));
    assert.ok(ops.has("MatMulInteger") && ops.has("QuantizeLinear"), [...ops].join(", "));
    const s = await ort.InferenceSession.create(at("int8.onnx"));
    const out = await s.run({ pixel_values: new ort.Tensor("float32", new Float32Array(2 * 3 * 32 * 32).fill(0.5), [2, 3, 32, 32]) });
    assert.deepEqual(out.logits!.dims, [2, 3]);
    await s.release();

    const f = await inProcess(["merge", "--out", at("run"), "--output", at("merged.safetensors")]);
    assert.equal(f.code, 0, f.stderr);
    const x = await inProcess(["export", "--out", at("run"), "--output", at("model.onnx")]);
    assert.equal(x.code, 0, x.stderr);
  });

  test("full fine-tuning with an int8 backbone is one line, exit 2", async () => {
    const r = await inProcess(["train", "--data", task, ...MODEL, "--method", "full", "--epochs", "1", "--backbone-precision", "int8", "--out", at("full")]);
    assertUserError(r, /full trains ".*weight", which this backbone holds int8/);
    const bad = await inProcess(["train", "--data", task, ...MODEL, "--epochs", "1", "--backbone-precision", "int4", "--out", at("bad")]);
    assertUserError(bad, /backbone-precision/);
    // A config file's value goes through the same rule as the flag.
    assert.throws(() => checkOptions({ backbonePrecision: "int4" }, "run.yaml"), /^ConfigError: --backbone-precision \(backbonePrecision in run.yaml\) must be one of fp32, int8, got int4$/);
  });
});
