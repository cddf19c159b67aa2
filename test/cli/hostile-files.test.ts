/**
 * @file Issue #11 items 4, 6 and 13: file-system trouble, impossible labels and list paths, each as one
 * "snell: error:" line without a JS stack. Real files where the machine can make them (a file as --out,
 * a path under a file, dangling and looping symlinks, a folder as checkpoint). Tests run as root, where
 * chmod blocks nothing and no read-only mount or full disk is at hand, so EROFS, EACCES and ENOSPC are
 * injected through one seam: fs.openSync (every write of the CLI and trainer opens through it) throws
 * the errno for paths under the run folder, exactly as the kernel would report it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import nodeFs from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { EXIT } from "../../src/cli/commands/context.js";
import { ListDataset } from "../../src/data/dataset.js";
import { inferNumClasses } from "../../src/data/label-check.js";
import { readVtab } from "../../src/data/vtab.js";
import { inProcess } from "../helpers/cli.js";
import { tempDir, writeImageFolder, writeVtabTask } from "../helpers/images.js";

/** The CLI from source (bin/snell.js runs the compiled dist/, which tests do not build). */
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
let tmp: ReturnType<typeof tempDir>;
let task: string;
let trained: string;
const at = (name: string) => join(tmp.dir, name);

const COMMON = ["--model", "vit_test", "--arch", "imgSize=16,depth=1", "--method", "snell", "--rank", "4", "--sparsity", "0.5",
  "--batch-size", "4", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress", "--eval-every", "0"];

function assertOneLine(r: { code: number; stderr: string }, re: RegExp, code: number = EXIT.usage): void {
  assert.equal(r.code, code, r.stderr);
  const err = r.stderr.split("\n").filter((l) => l.startsWith("snell: "));
  assert.equal(err.length, 1, r.stderr);
  assert.match(err[0]!, re);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack");
}

/** Makes fs.openSync throw `code` for writes under `dir` once `when()` holds; returns the undo. */
function injectErrno(dir: string, code: string, when: () => boolean = () => true): () => void {
  const real = nodeFs.openSync;
  (nodeFs as { openSync: unknown }).openSync = (p: fs.PathLike, flags?: fs.OpenMode, mode?: fs.Mode) => {
    const writing = typeof flags === "string" && /[wa+]/.test(flags);
    if (writing && String(p).startsWith(dir) && when()) {
      throw Object.assign(new Error(`${code}: injected, open '${String(p)}'`), { code, errno: -1, syscall: "open", path: String(p) });
    }
    return real(p, flags ?? "r", mode);
  };
  syncBuiltinESMExports();
  return () => {
    (nodeFs as { openSync: unknown }).openSync = real;
    syncBuiltinESMExports();
  };
}

before(async () => {
  tmp = tempDir("snell-hostile-files-");
  task = at("task");
  await writeVtabTask(task, { numClasses: 3, perClass: 2 });
  trained = at("trained");
  const r = await inProcess(["train", "--data", task, ...COMMON, "--epochs", "1", "--out", trained]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => tmp.remove());

describe("file-system errors (item 6)", () => {
  test("--out naming a file, or a path under a file", async () => {
    fs.writeFileSync(at("afile"), "x");
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--epochs", "1", "--out", at("afile")]), /afile/);
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--epochs", "1", "--out", join(at("afile"), "sub")]), /afile\/sub.*(ENOTDIR|not a folder)/);
    assert.equal(fs.readFileSync(at("afile"), "utf8"), "x");
  });

  test("a read-only or forbidden run folder (EROFS, EACCES injected at open)", async () => {
    for (const code of ["EROFS", "EACCES"]) {
      const out = at(`ro-${code}`);
      fs.mkdirSync(out);
      const undo = injectErrno(out, code);
      try {
        assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--epochs", "1", "--out", out]), new RegExp(`ro-${code}.*\\(${code}`));
      } finally {
        undo();
      }
    }
  });

  test("a full disk mid-run exits 1 naming the last good checkpoint (ENOSPC injected after the first one)", async () => {
    const out = at("full");
    const ckpt = join(out, "checkpoint.safetensors");
    const undo = injectErrno(out, "ENOSPC", () => fs.existsSync(ckpt));
    let r;
    try {
      r = await inProcess(["train", "--data", task, ...COMMON, "--epochs", "3", "--out", out]);
    } finally {
      undo();
    }
    assertOneLine(r, /no space left on the device \(ENOSPC.*the last good checkpoint is .*full\/checkpoint\.safetensors; .*snell train --resume --out/, EXIT.failure);
    const resumed = await inProcess(["train", "--resume", "--out", out]);
    assert.equal(resumed.code, 0, resumed.stderr);
  });

  test("dangling and looping symlinks in an ImageFolder", async () => {
    const dir = at("imgf");
    await writeImageFolder(join(dir, "train"), ["a", "b"], 2);
    await writeImageFolder(join(dir, "test"), ["a", "b"], 1);
    fs.symlinkSync(join(dir, "nowhere.png"), join(dir, "train", "a", "dangling.png"));
    const base = ["train", "--data", dir, "--dataset-format", "imagefolder", ...COMMON, "--epochs", "1", "--out", at("imgf-run")];
    assertOneLine(await inProcess(base), /dangling\.png.*(ENOENT|no such file)/);
    fs.rmSync(join(dir, "train", "a", "dangling.png"));
    fs.symlinkSync("loop2", join(dir, "train", "b", "loop1"));
    fs.symlinkSync("loop1", join(dir, "train", "b", "loop2"));
    assertOneLine(await inProcess(base), /loop[12].*(ELOOP|symbolic links)/);
  });

  test("a checkpoint or weights path that is a folder", async () => {
    const out = at("ckdir");
    fs.cpSync(trained, out, { recursive: true });
    fs.rmSync(join(out, "checkpoint.safetensors"));
    fs.mkdirSync(join(out, "checkpoint.safetensors"));
    assertOneLine(await inProcess(["train", "--resume", "--out", out]), /checkpoint\.safetensors.*(EISDIR|is a folder)/);
    fs.mkdirSync(at("w.safetensors"));
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--weights", at("w.safetensors"), "--out", at("wdir-run")]), /w\.safetensors.*(EISDIR|is a folder)/);
  });

  test("--predictions into a missing folder fails before evaluating", async () => {
    assertOneLine(await inProcess(["eval", "--out", trained, "--predictions", join(at("missing"), "p.jsonl")]), /--predictions .*missing\/p\.jsonl: folder .*missing does not exist/);
  });

  test("a YAML anchor that refers to itself, and an alias before its anchor", async () => {
    const file = at("loop.yaml");
    fs.writeFileSync(file, "peft: &x\n  inner: *x\n");
    assertOneLine(await inProcess(["train", "--data", task, "--config", file]), /loop\.yaml: invalid YAML: an alias refers to its own anchor/);
    fs.writeFileSync(file, "peft: *y\n");
    assertOneLine(await inProcess(["train", "--data", task, "--config", file]), /loop\.yaml: invalid YAML: .*alias/i);
  });

  test("an absurd --arch is refused from an estimate before anything is allocated", async () => {
    const rss0 = process.memoryUsage().rss;
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--arch", "embedDim=100000,numHeads=1", "--out", at("absurd")]),
      /out of memory: model vit_test \(ViT 100000x2\) has \d+M parameters, about \d+\.\d GiB before training starts; this machine has/);
    assert.ok(process.memoryUsage().rss - rss0 < 512 * 2 ** 20);
    assert.ok(!fs.existsSync(at("absurd")));
  });
});

describe("labels that cannot be right (item 4)", () => {
  const ds = (labels: number[], file = "list.txt") => new ListDataset(labels.map((label, i) => ({ source: `${i}.png`, label, origin: `${file}:${i + 1}` })), Math.max(...labels) + 1);

  test("classes come from all splits; a class only the eval split has is counted", () => {
    assert.equal(inferNumClasses([{ name: "train", ds: ds([0, 1, 2, 0, 1, 2]) }, { name: "test", ds: ds([0, 3]) }]), 4);
  });

  test("a stray huge label names its file and line and suggests --num-classes", async () => {
    assert.throws(() => inferNumClasses([{ name: "train", ds: ds([0, 1, 2, 1000000, 1], "train.txt") }, { name: "test", ds: ds([0, 1]) }]),
      /^FormatError: train\.txt:4: label 1000000 makes 1000001 classes, but the 7 images use only 4 distinct labels; .*--num-classes 1000001/);
    const dir = at("hugelabel");
    fs.cpSync(task, dir, { recursive: true });
    const lines = fs.readFileSync(join(dir, "train800val200.txt"), "utf8").trim().split("\n");
    lines[2] = lines[2]!.replace(/\d+$/, "1000000");
    fs.writeFileSync(join(dir, "train800val200.txt"), lines.join("\n") + "\n");
    assertOneLine(await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--out", at("hugelabel-run")]), /train800val200\.txt:3: label 1000000 makes 1000001 classes/);
    assert.ok(!fs.existsSync(at("hugelabel-run")));
  });

  test("more classes than images, most classes never trained, and --num-classes below a label", () => {
    // 4 distinct labels of 8 is not sparse, but 8 classes over 6 images is more classes than images.
    assert.throws(() => inferNumClasses([{ name: "train", ds: ds([0, 1, 2, 7]) }, { name: "test", ds: ds([1, 2]) }]), /list\.txt:4: label 7 makes 8 classes, but the 6 images use only 4 distinct labels/);
    assert.throws(() => inferNumClasses([{ name: "train", ds: ds([0, 0, 1, 1]) }, { name: "test", ds: ds([2, 3, 4, 5, 5]) }]), /list\.txt:4: label 5 out of range \[0, 2\) of the training split \(train\), where 4 of 6 classes never occur/);
    assert.equal(inferNumClasses([{ name: "train", ds: ds([0, 5]) }, { name: "test", ds: ds([1]) }], 10), 10);
    assert.throws(() => inferNumClasses([{ name: "train", ds: ds([0, 5]) }], 5), /list\.txt:2: label 5 out of range \[0, 5\) \(--num-classes 5\)/);
  });
});

describe("list paths, threads, workers, early kills (item 13)", () => {
  test("one rule for list entries: inside the data folder unless --allow-outside-paths", async () => {
    const dir = at("escape");
    fs.cpSync(task, dir, { recursive: true });
    const outside = at("outside.png");
    const first = fs.readFileSync(join(dir, "train800val200.txt"), "utf8").split("\n")[0]!.split(" ")[0]!;
    fs.copyFileSync(join(dir, first), outside);
    const list = fs.readFileSync(join(dir, "train800val200.txt"), "utf8").trim().split("\n");
    for (const entry of ["../outside.png", outside]) {
      fs.writeFileSync(join(dir, "train800val200.txt"), [...list.slice(0, 1), `${entry} 0`, ...list.slice(1)].join("\n") + "\n");
      assert.throws(() => readVtab(dir, "train800val200"), /train800val200\.txt:2: image path ".*outside\.png" is outside the data folder .*--allow-outside-paths/);
      const ok = readVtab(dir, "train800val200", { allowOutsidePaths: true });
      assert.equal(ok.item(1).source, outside);
    }
    assertOneLine(await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--out", at("escape-run")]), /is outside the data folder/);
    const r = await inProcess(["train", "--data", dir, ...COMMON, "--epochs", "1", "--allow-outside-paths", "--out", at("escape-ok")]);
    assert.equal(r.code, 0, r.stderr);
    fs.writeFileSync(join(dir, "train800val200.txt"), list.join("\n") + "\n");
    const inside = readVtab(dir, "train800val200", { allowOutsidePaths: false });
    assert.ok(String(inside.item(0).source).startsWith(dir));
  });

  test("--threads 1 on train, eval and predict; --workers beyond the cores warns and still runs", async () => {
    const out = at("threads");
    const r = await inProcess(["train", "--data", task, ...COMMON, "--epochs", "1", "--threads", "1", "--workers", "1000", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: --workers 1000 is more than the \d+ cores; using \d+/);
    assert.equal((await inProcess(["eval", "--out", out, "--threads", "1"])).code, 0);
    const img = join(task, fs.readFileSync(join(task, "test.txt"), "utf8").split(" ")[0]!);
    assert.equal((await inProcess(["predict", "--out", out, "--threads", "1", img])).code, 0);
  });

  test("a kill before run.json leaves only a stale lock, which blocks neither a new train nor says more than one line to --resume", async () => {
    const out = at("earliest");
    fs.mkdirSync(out);
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
    fs.writeFileSync(join(out, ".lock"), JSON.stringify({ pid: dead, host: hostname() }));
    assertOneLine(await inProcess(["train", "--resume", "--out", out]), /nothing to resume: .*run\.json does not exist \(train without --resume first\)/);
    const r = await inProcess(["train", "--data", task, ...COMMON, "--epochs", "1", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("a kill before the first checkpoint leaves nothing that blocks --resume", async () => {
    const out = at("early");
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "train", "--data", task, ...COMMON, "--epochs", "2", "--out", out], { stdio: "ignore" });
    while (!fs.existsSync(join(out, "run.json")) && child.exitCode === null) await new Promise((res) => setTimeout(res, 5));
    child.kill("SIGKILL");
    await new Promise((res) => child.on("close", res));
    assert.ok(!fs.existsSync(join(out, "checkpoint.safetensors")), "killed before the first checkpoint");
    const r = await inProcess(["train", "--resume", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no checkpoint in .*early yet; training from the start/);
    const straight = at("early-straight");
    assert.equal((await inProcess(["train", "--data", task, ...COMMON, "--epochs", "2", "--out", straight])).code, 0);
    assert.deepEqual(fs.readFileSync(join(out, "adapter", "adapter_model.safetensors")), fs.readFileSync(join(straight, "adapter", "adapter_model.safetensors")));
  });
});
