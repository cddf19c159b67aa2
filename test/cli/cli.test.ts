/**
 * @file The `snell` CLI end to end on a VTAB-1k-layout folder of PNGs and a tiny random ViT: train,
 * evaluate, save, resume after SIGKILL and after Ctrl-C (same adapter bytes as an uninterrupted run),
 * predict agreeing with eval, and each user error as one line with exit code 2.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runGoldenCase } from "../../src/peft/snell/golden.js";
import { EXIT, type CliContext } from "../../src/cli/commands/context.js";
import { assertUserError, inProcess, spawnCli, waitForFile, type SpawnedOut } from "../helpers/cli.js";
import { reportError, runCli } from "../../src/cli/main.js";
import { InternalError } from "../../src/errors.js";
import { loadTrainingCheckpoint } from "../../src/train/checkpoint.js";
import { readRunLog } from "../../src/train/run-log.js";
import { Rng } from "../../src/random.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";


let tmp: ReturnType<typeof tempDir>;
let task: string;
const run = (name: string) => join(tmp.dir, name);

/** Tiny model and data: 24 training images, 12 test images, 16x16 input, one block. */
const COMMON = ["--model", "vit_test", "--arch", "imgSize=16,depth=1", "--method", "snell", "--rank", "4", "--sparsity", "0.5",
  "--batch-size", "4", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress"];
const EPOCHS = ["--epochs", "30", "--eval-every", "0"];

const adapterBytes = (dir: string) => fs.readFileSync(join(dir, "adapter", "adapter_model.safetensors"));

let straight: Promise<SpawnedOut>;
before(async () => {
  tmp = tempDir("snell-cli-");
  task = join(tmp.dir, "task");
  await writeVtabTask(task, { numClasses: 3, perClass: 4 });
  straight = spawnCli(["train", "--data", task, ...COMMON, ...EPOCHS, "--out", run("straight")]).done;
});
after(() => tmp.remove());

describe("snell train / eval / predict", () => {
  test("train trains, evaluates and saves the adapter, checkpoint, log and run.json", async () => {
    const r = await straight;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /last: top-1 [\d.]+% top-5 [\d.]+% \(epoch 30\); best: top-1/);
    for (const f of ["run.json", "checkpoint.safetensors", "log.jsonl", "adapter/adapter_config.json", "adapter/adapter_model.safetensors"]) {
      assert.ok(fs.existsSync(join(run("straight"), f)), f);
    }
    const log = readRunLog(join(run("straight"), "log.jsonl"));
    assert.equal(log.length, 30);
    assert.ok(log[29]!.loss < log[0]!.loss, `loss ${log[0]!.loss} -> ${log[29]!.loss}`);
    assert.equal(typeof log[29]!.top1, "number");
  });

  test("a run killed after its first checkpoint resumes to the same adapter bytes", async () => {
    const out = run("killed");
    const p = spawnCli(["train", "--data", task, ...COMMON, ...EPOCHS, "--out", out]);
    await waitForFile(join(out, "checkpoint.safetensors"), p.child);
    p.child.kill("SIGKILL");
    const k = await p.done;
    assert.equal(k.signal, "SIGKILL", "the run finished before it could be killed");
    const ck = loadTrainingCheckpoint(join(out, "checkpoint.safetensors"));
    assert.ok(ck.epoch >= 1 && ck.epoch < 30, `checkpoint at epoch ${ck.epoch}`);
    const r = await spawnCli(["train", "--resume", "--out", out, "--no-progress"]).done;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /resumed from .*checkpoint\.safetensors: epoch \d+/);
    await straight;
    assert.deepEqual(adapterBytes(out), adapterBytes(run("straight")));
    assert.deepEqual(readRunLog(join(out, "log.jsonl")).map((l) => l.loss), readRunLog(join(run("straight"), "log.jsonl")).map((l) => l.loss));
  });

  test("Ctrl-C writes a resumable checkpoint and exits 130; the resumed run matches", async () => {
    const out = run("sigint");
    const p = spawnCli(["train", "--data", task, ...COMMON, ...EPOCHS, "--out", out]);
    await waitForFile(join(out, "checkpoint.safetensors"), p.child);
    p.child.kill("SIGINT");
    const k = await p.done;
    assert.equal(k.code, EXIT.interrupted, k.stderr);
    assert.match(k.stderr, /Resume with: snell train --resume --out /);
    const r = await spawnCli(["train", "--resume", "--out", out, "--no-progress"]).done;
    assert.equal(r.code, 0, r.stderr);
    await straight;
    assert.deepEqual(adapterBytes(out), adapterBytes(run("straight")));
  });

  test("predict on the saved adapter gives the same top classes as eval", async () => {
    await straight;
    const ev = await spawnCli(["eval", "--out", run("straight"), "--json"]).done;
    assert.equal(ev.code, 0, ev.stderr);
    const res = JSON.parse(ev.stdout) as { top1: number; count: number; predictions: { file: string; top: number[] }[] };
    assert.equal(res.count, 12);
    // Training evaluated the same merged model at the end: the same top-1.
    assert.equal(res.top1, loadTrainingCheckpoint(join(run("straight"), "checkpoint.safetensors")).accuracy.last!.top1);
    const files = res.predictions.map((p) => p.file);
    const pr = await spawnCli(["predict", "--out", run("straight"), "--json", "--top-k", "3", ...files]).done;
    assert.equal(pr.code, 0, pr.stderr);
    const preds = pr.stdout.trim().split("\n").map((l) => JSON.parse(l) as { file: string; top: { class: number; prob: number }[] });
    assert.deepEqual(preds.map((p) => p.file), files);
    assert.deepEqual(preds.map((p) => p.top.map((t) => t.class)), res.predictions.map((p) => p.top.slice(0, 3)));
    for (const p of preds) assert.ok(p.top[0]!.prob >= p.top[1]!.prob && p.top[0]!.prob <= 1);
  });
});

describe("snell commands and errors", () => {
  test("every command has --help", async () => {
    const top = await inProcess(["--help"]);
    assert.equal(top.code, 0);
    for (const c of ["train", "eval", "predict", "merge", "export", "info", "golden"]) {
      assert.match(top.stdout, new RegExp(`\\n\\s+${c}\\b`));
      const r = await inProcess([c, "--help"]);
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, new RegExp(`Usage: snell ${c}`));
    }
    assert.match((await inProcess(["train", "--help"])).stdout, /--recipe <name>[\s\S]*--clip-grad[\s\S]*--resume/);
  });

  test("a config file sets options, flags override it, and a recipe fills the authors' values", async () => {
    const cfg = join(tmp.dir, "cfg.yaml");
    fs.writeFileSync(cfg, "epochs: 5\nweight-decay: 0.02\nlabel_smoothing: 0.1\nrecipe: vtab/cifar\n");
    const out = run("config");
    const r = await inProcess(["train", "--config", cfg, "--data", task, ...COMMON, "--epochs", "1", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readRunLog(join(out, "log.jsonl")).length, 1);
    const stored = JSON.parse(fs.readFileSync(join(out, "run.json"), "utf8")) as { config: Record<string, unknown>; spec: { peft: Record<string, unknown> } };
    assert.equal(stored.config.weightDecay, 0.02);
    assert.equal(stored.config.labelSmoothing, 0.1);
    assert.equal(stored.config.evalEvery, "authors");
    assert.equal(stored.spec.peft.sparsity, 0.5);
    assert.equal(stored.spec.peft.rank, 4);
    const unknown = join(tmp.dir, "bad.json");
    fs.writeFileSync(unknown, JSON.stringify({ epochz: 3 }));
    assertUserError(await inProcess(["train", "--config", unknown, "--data", task]), /unknown option in .*bad\.json "epochz"/);
  });

  test("info, merge and export read the run", async () => {
    await straight;
    const info = await inProcess(["info", "--out", run("straight")]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /model: vit_test[\s\S]*adapter: \{"method":"snell"[\s\S]*trainable params: [\d,]+ \|\| all params[\s\S]*checkpoint: .*30 epochs/);
    const merged = join(tmp.dir, "merged.safetensors");
    assert.equal((await inProcess(["merge", "--out", run("straight"), "--output", merged])).code, 0);
    assert.ok(fs.statSync(merged).size > 0);
    const onnx = join(tmp.dir, "model.onnx");
    const ex = await inProcess(["export", "--out", run("straight"), "--output", onnx]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.ok(fs.statSync(onnx).size > 0);
    // Weights of another architecture are refused by name.
    assertUserError(await inProcess(["train", "--data", task, ...COMMON, "--arch", "imgSize=16,embedDim=16", "--weights", merged, "--epochs", "1", "--out", run("x")]),
      /weights file .*merged\.safetensors .*belongs to another model than vit_test/);
  });

  test("a missing split file names the file", async () => {
    const dir = join(tmp.dir, "nosplit");
    fs.mkdirSync(dir);
    assertUserError(await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--out", run("nosplit-run")]), /missing split file .*nosplit\/train800val200\.txt/);
  });

  test("an unreadable image fails naming the list file and line, or is skipped and counted with --skip-bad-images", async () => {
    const dir = join(tmp.dir, "badimg");
    fs.cpSync(task, dir, { recursive: true });
    const lines = fs.readFileSync(join(dir, "train800val200.txt"), "utf8").split("\n");
    fs.writeFileSync(join(dir, lines[2]!.split(" ")[0]!), "not a png");
    assertUserError(await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--out", run("bad1")]), /train800val200\.txt:3: unreadable image .*\.png/);
    const r = await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--skip-bad-images", "--out", run("bad2")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /skipped 1 unreadable images/);
  });

  test("a label out of range names the file and line", async () => {
    const dir = join(tmp.dir, "badlabel");
    fs.cpSync(task, dir, { recursive: true });
    const lines = fs.readFileSync(join(dir, "test.txt"), "utf8").trim().split("\n");
    lines[4] = lines[4]!.replace(/\d+$/, "7");
    fs.writeFileSync(join(dir, "test.txt"), lines.join("\n") + "\n");
    assertUserError(await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--out", run("badlabel-run")]), /test\.txt:5: label 7 out of range \[0, 3\)/);
  });

  test("an empty dataset names the list file", async () => {
    const dir = join(tmp.dir, "empty");
    fs.cpSync(task, dir, { recursive: true });
    fs.writeFileSync(join(dir, "train800val200.txt"), "\n");
    assertUserError(await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--out", run("empty-run")]), /train800val200\.txt: empty dataset/);
  });

  test("resuming a checkpoint with another model is refused and leaves the run untouched", async () => {
    await straight;
    const dir = run("other");
    fs.cpSync(run("straight"), dir, { recursive: true });
    const before = fs.readFileSync(join(dir, "checkpoint.safetensors"));
    assertUserError(await inProcess(["train", "--resume", "--out", dir, "--rank", "2"]), /checkpoint .*checkpoint\.safetensors belongs to another model/);
    assert.deepEqual(fs.readFileSync(join(dir, "checkpoint.safetensors")), before);
  });

  test("a NaN loss stops with exit 1 and one line, keeping the last good checkpoint", async () => {
    const out = run("nan");
    const r = await inProcess(["train", "--data", task, ...COMMON, "--epochs", "3", "--lr", "1e30", "--warmup-epochs", "1", "--warmup-lr", "1e-3", "--out", out]);
    assert.equal(r.code, EXIT.failure, r.stderr);
    assert.match(r.stderr, /snell: error: training loss is (NaN|-?Infinity) in epoch 3/);
    assert.doesNotMatch(r.stderr, /^\s+at /m);
    assert.equal(loadTrainingCheckpoint(join(out, "checkpoint.safetensors")).epoch, 2);
  });

  test("usage errors exit 2; internal errors keep their stack", async () => {
    assert.equal((await inProcess(["train", "--no-such-flag"])).code, EXIT.usage);
    assert.equal((await inProcess(["frobnicate"])).code, EXIT.usage);
    assertUserError(await inProcess(["train", "--data", task, "--method", "snel"]), /unknown method "snel"; expected one of snell/);
    let err = "";
    const code = reportError(new InternalError("boom"), { stderr: { write: (s: string) => (err += s) } } as unknown as CliContext);
    assert.equal(code, EXIT.failure);
    assert.match(err, /internal: boom[\s\S]*\n\s+at /);
  });

  test("golden prints each case's errors and fails over tolerance", async () => {
    const rng = new Rng(5);
    const n_in = 6, n_out = 5, r = 4, rows = 3;
    const rand = (n: number) => Array.from({ length: n }, () => rng.normal());
    const c = { n_in, n_out, r, s: 0.5, snella: false, A: rand(r * n_in), B: rand(r * n_out), x: rand(rows * n_in), gy: rand(rows * n_out) };
    const ours = await runGoldenCase({ ...c, dW: [], y: [], gA: [], gB: [], nonzero: 0 });
    const golden = { ...c, dW: [...ours.dW!], y: [...ours.y!], gA: [...ours.gA!], gB: [...ours.gB!], nonzero: ours.dW!.filter((v) => v !== 0).length };
    const file = join(tmp.dir, "golden.json");
    fs.writeFileSync(file, JSON.stringify([golden]));
    const ok = await inProcess(["golden", file]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /case 0: ok .*dW 0\.00e\+0/);
    golden.y[0]! += 1;
    fs.writeFileSync(file, JSON.stringify([golden]));
    const bad = await inProcess(["golden", file]);
    assert.equal(bad.code, EXIT.failure);
    assert.match(bad.stdout, /case 0: FAIL .*y [1-9]/);
    fs.writeFileSync(file, "[{");
    assertUserError(await inProcess(["golden", file]), /golden file ".*golden\.json": not readable JSON/);
  });
});
