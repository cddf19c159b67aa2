/**
 * @file `--device` on train, eval, predict and demo: a provider that cannot start (CUDA here) is one
 * line naming the fix, exit 2, the run folder untouched; a bad name is refused from flags and config
 * files; on webgpu (skipped without an adapter) a tiny SNELL run trains as on the CPU, run.json records
 * the device, eval/predict on webgpu agree with the CPU, and a run killed after its first checkpoint
 * resumes (on webgpu, from run.json) to the uninterrupted run's adapter bytes and losses.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EXIT } from "../../src/cli/commands/context.js";
import { CUDA_INSTALL } from "../../src/runtime/device.js";
import { heldDeviceTensors } from "../../src/runtime/tensor-refs.js";
import { readRunLog } from "../../src/train/run-log.js";
import { assertKilledRunResumes, assertUserError, inProcess, spawnCli } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";
import { webgpuSkip } from "../helpers/webgpu.js";

let tmp: ReturnType<typeof tempDir>;
let task: string;
const run = (name: string) => join(tmp.dir, name);

/** Tiny model and data: one epoch of 2 steps (12 training images), 12 test images, 16x16 input, one block. */
const COMMON = ["--model", "vit_test", "--arch", "imgSize=16,depth=1", "--method", "snell", "--rank", "4", "--sparsity", "0.5",
  "--train-split", "train800", "--batch-size", "6", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress", "--epochs", "1"];

/** Every file under `dir` with its size and mtime, to show a command left it alone. */
function listing(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((e) => join(e.parentPath, e.name)).sort()
    .map((f) => { const s = fs.statSync(f); return `${f} ${s.size} ${s.mtimeMs}`; });
}

/** Exactly one stderr line, the device error naming the CUDA install command; exit 2. */
function assertCudaLine(r: { code: number | null; stderr: string }): void {
  assert.equal(r.code, EXIT.usage, r.stderr);
  const lines = r.stderr.split("\n").filter((l) => l.trim());
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.ok(lines[0]!.startsWith(`snell: error: device "cuda": ONNX Runtime's CUDA provider cannot be loaded`), lines[0]);
  assert.ok(lines[0]!.includes(CUDA_INSTALL), lines[0]);
}

before(async () => {
  tmp = tempDir("snell-device-");
  task = join(tmp.dir, "task");
  await writeVtabTask(task, { numClasses: 3, perClass: 4 });
});
after(() => tmp.remove());

describe("--device without its provider", () => {
  test("cuda: train, eval, predict and demo print one line naming the rebuild command, exit 2, and leave the run folder alone", async () => {
    const existing = run("existing");
    fs.mkdirSync(join(existing, "adapter"), { recursive: true });
    fs.writeFileSync(join(existing, "run.json"), "{}\n");
    fs.writeFileSync(join(existing, "adapter", "adapter_config.json"), "{}\n");
    const before = listing(existing);
    const fresh = run("fresh");
    // Spawned, so that anything native code writes to the process's stderr would show; eval and predict in process.
    const [trainNew, trainResume, demo] = await Promise.all([
      spawnCli(["train", "--data", task, ...COMMON, "--device", "cuda", "--out", fresh]).done,
      spawnCli(["train", "--resume", "--device", "cuda", "--out", existing]).done,
      spawnCli(["demo", "--device", "cuda", "--epochs", "1", "--out", run("demo")]).done,
    ]);
    const evalRun = await inProcess(["eval", "--device", "cuda", "--out", existing]);
    const predict = await inProcess(["predict", "--device", "cuda", "--out", existing, join(task, "images/test/0_0.png")]);
    for (const r of [trainNew, trainResume, demo, evalRun, predict]) assertCudaLine(r);
    assert.ok(!fs.existsSync(fresh), "train created its --out folder");
    assert.ok(!fs.existsSync(run("demo")), "demo created its --out folder");
    assert.deepEqual(listing(existing), before);
  });

  test("an unknown device is refused by name, from a flag or a config file", async () => {
    assertUserError(await inProcess(["train", "--data", task, ...COMMON, "--device", "tpu", "--out", run("tpu")]), /--device must be one of cpu, webgpu, cuda, got tpu/);
    const cfg = join(tmp.dir, "tpu.yaml");
    fs.writeFileSync(cfg, "device: tpu\n");
    assertUserError(await inProcess(["eval", "--config", cfg, "--out", run("none")]), /--device \(device in .*tpu\.yaml\) must be one of cpu, webgpu, cuda, got tpu/);
    assert.ok(!fs.existsSync(run("tpu")));
  });
});

describe("--device webgpu", { skip: await webgpuSkip() }, () => {
  test("trains like the CPU (losses within 1e-4), records the device, and eval/predict agree with the CPU", async () => {
    const [gpu, cpu] = [run("gpu"), run("cpu")];
    const g = await inProcess(["train", "--data", task, ...COMMON, "--device", "webgpu", "--out", gpu]);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stderr, /device webgpu: trainable state stays in device memory/);
    assert.equal(heldDeviceTensors(), 0, "GPU tensors left behind by a finished run");
    const c = await inProcess(["train", "--data", task, ...COMMON, "--out", cpu]);
    assert.equal(c.code, 0, c.stderr);
    const lg = readRunLog(join(gpu, "log.jsonl")), lc = readRunLog(join(cpu, "log.jsonl"));
    assert.equal(lg.length, 1);
    lg.forEach((r, i) => assert.ok(Math.abs(r.loss - lc[i]!.loss) <= 1e-4 * Math.abs(lc[i]!.loss), `epoch ${i}: ${r.loss} vs ${lc[i]!.loss}`));
    // The run's evaluation: merged weights uploaded to the GPU once per evaluation.
    assert.equal(lg[0]!.top1, lc[0]!.top1);
    assert.equal(JSON.parse(fs.readFileSync(join(gpu, "run.json"), "utf8")).config.device, "webgpu");
    assert.equal(JSON.parse(fs.readFileSync(join(cpu, "run.json"), "utf8")).config.device, "cpu");

    // The run's own evaluation ran merged on webgpu too; `snell eval` on webgpu repeats it.
    const e = await inProcess(["eval", "--out", gpu, "--device", "webgpu", "--json"]);
    assert.equal(e.code, 0, e.stderr);
    const eg = JSON.parse(e.stdout) as { top1: number; count: number };
    assert.equal(eg.count, 12);
    assert.equal(eg.top1, lg[0]!.top1);
    const images = [0, 1, 2].map((c) => join(task, `images/test/${c}_0.png`));
    const predictOn = async (device: string) => {
      const r = await inProcess(["predict", "--out", gpu, "--device", device, "--json", ...images]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { top: { class: number; prob: number }[] });
    };
    const [pg, pc] = [await predictOn("webgpu"), await predictOn("cpu")];
    pg.forEach((p, i) => {
      assert.deepEqual(p.top.map((t) => t.class), pc[i]!.top.map((t) => t.class));
      p.top.forEach((t, k) => assert.ok(Math.abs(t.prob - pc[i]!.top[k]!.prob) < 1e-4, `image ${i} rank ${k}`));
    });
  });

  test("a run killed after its first checkpoint resumes on webgpu to the same adapter bytes and losses", async () => {
    await assertKilledRunResumes(["train", "--data", task, ...COMMON, "--epochs", "3", "--eval-every", "0", "--device", "webgpu"], run("gpu-straight"), run("gpu-killed"));
    assert.equal(JSON.parse(fs.readFileSync(join(run("gpu-killed"), "run.json"), "utf8")).config.device, "webgpu");
    // --device overrides the stored one on resume, with a note (the finished run has nothing left to train).
    const r = await inProcess(["train", "--resume", "--out", run("gpu-killed"), "--device", "cpu", "--no-progress"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /note: resuming on cpu a run trained on webgpu; results will differ in the last bits/);
  });
});
