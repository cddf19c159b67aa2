/**
 * @file A run folder nothing corrupts (issue #11 items 2, 3, 5, 7, 8, 10, 12): one writer at a time, no
 * overwrite by accident, the evaluation split checked before training, corrupt adapters named, resumes
 * with other data refused, and SIGTERM checkpointing like Ctrl-C. Each refused or failed command leaves
 * an existing run folder byte-identical.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EXIT } from "../../src/cli/commands/context.js";
import { acquireRunLock } from "../../src/train/run-lock.js";
import { loadTrainingCheckpoint } from "../../src/train/checkpoint.js";
import { assertUserError, inProcess, spawnCli, type SpawnedOut } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";
import { snapshot } from "../helpers/snapshot.js";

const COMMON = ["--model", "vit_test", "--arch", "imgSize=16,depth=1", "--method", "snell", "--rank", "4", "--sparsity", "0.5",
  "--batch-size", "4", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress", "--eval-every", "0"];

let tmp: ReturnType<typeof tempDir>;
let task: string;
const at = (name: string) => join(tmp.dir, name);

const train = (out: string, ...extra: string[]) => inProcess(["train", "--data", task, ...COMMON, "--epochs", "2", "--out", out, ...extra]);

let finished: string;
let straight: Promise<SpawnedOut>;
before(async () => {
  tmp = tempDir("snell-runfolder-");
  task = at("task");
  await writeVtabTask(task, { numClasses: 3, perClass: 4 });
  straight = spawnCli(["train", "--data", task, ...COMMON, "--epochs", "12", "--out", at("straight")]).done;
  finished = at("finished");
  const r = await train(finished);
  assert.equal(r.code, 0, r.stderr);
});
after(() => tmp.remove());

describe("a finished run is never overwritten by accident (item 3)", () => {
  test("training again into it is refused until --resume or --overwrite", async () => {
    const before = snapshot(finished);
    assertUserError(await train(finished), /--out .*finished already holds a run \(adapter, checkpoint\.safetensors, log\.jsonl, run\.json\); pass --resume .* --overwrite/);
    assert.deepEqual(snapshot(finished), before);
  });

  test("a failing --overwrite (broken evaluation list, bad weights, --resume with it) leaves it byte-identical", async () => {
    const before = snapshot(finished);
    const broken = at("broken-test-list");
    fs.cpSync(task, broken, { recursive: true });
    fs.appendFileSync(join(broken, "test.txt"), "images/test/missing.png 1\n");
    assertUserError(await inProcess(["train", "--data", broken, ...COMMON, "--out", finished, "--overwrite"]), /test\.txt:13: .*missing\.png/);
    fs.writeFileSync(at("junk.safetensors"), "not a safetensors file");
    assert.equal((await train(finished, "--overwrite", "--weights", at("junk.safetensors"))).code, EXIT.usage);
    assertUserError(await train(finished, "--overwrite", "--resume"), /--resume .* --overwrite/);
    assertUserError(await train(finished, "--overwrite", "--stochastic-depth", "1"), /stochastic/i);
    assert.deepEqual(snapshot(finished), before);
  });

  test("--overwrite replaces the run once everything is checked", async () => {
    const dir = at("replaced");
    fs.cpSync(finished, dir, { recursive: true });
    fs.writeFileSync(join(dir, "notes.txt"), "mine");
    const r = await train(dir, "--overwrite", "--seed", "4");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(fs.readFileSync(join(dir, "run.json"), "utf8")).config.seed, 4);
    assert.notDeepEqual(fs.readFileSync(join(dir, "adapter", "adapter_model.safetensors")), fs.readFileSync(join(finished, "adapter", "adapter_model.safetensors")));
    assert.equal(fs.readFileSync(join(dir, "notes.txt"), "utf8"), "mine", "files that are not the run's stay");
  });
});

describe("leftovers of a killed run are cleaned on the next run (item 8)", () => {
  test("temp files and a half-swapped adapter folder are removed or restored by --resume", async () => {
    const dir = at("leftovers");
    fs.cpSync(finished, dir, { recursive: true });
    const adapter = snapshot(join(dir, "adapter"));
    // A kill between the two renames of the adapter swap: the previous adapter only under its backup name.
    fs.renameSync(join(dir, "adapter"), join(dir, ".adapter.999999.0badcafe.old"));
    fs.mkdirSync(join(dir, ".adapter.999999.1badcafe.tmp"));
    fs.writeFileSync(join(dir, ".checkpoint.safetensors.999999.2badcafe.tmp"), "half");
    fs.writeFileSync(join(dir, ".run.json.999999.3badcafe.tmp"), "half");
    const r = await inProcess(["train", "--resume", "--out", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.startsWith(".")), []);
    assert.deepEqual(snapshot(join(dir, "adapter")), adapter, "the finished run's adapter is back and unchanged");
  });
});

describe("one writer per run folder (item 2)", () => {
  test("a held lock refuses a second writer with one line naming the holder; the folder is untouched", async () => {
    const before = snapshot(finished);
    const lock = acquireRunLock(finished);
    try {
      assertUserError(await train(finished, "--resume"), new RegExp(`finished is in use: process ${process.pid} on \\S+ .*is training there`));
      assertUserError(await train(finished, "--overwrite"), /is in use: process/);
    } finally {
      lock.release();
    }
    assert.deepEqual(snapshot(finished), before);
  });

  test("two `snell train` into one new folder at once: one trains, the other exits 2 naming the holder or the run", async () => {
    const out = at("raced");
    const args = ["train", "--data", task, ...COMMON, "--epochs", "3", "--out", out];
    const [a, b] = await Promise.all([spawnCli(args).done, spawnCli([...args, "--seed", "5"]).done]);
    const codes = [a.code, b.code].sort();
    assert.deepEqual(codes, [0, 2], `${a.stderr}\n---\n${b.stderr}`);
    const loser = a.code === 2 ? a : b, winner = a.code === 0 ? a : b;
    assert.match(loser.stderr, /snell: error: .*(is in use: process \d+|already holds a run)/);
    const seed = JSON.parse(fs.readFileSync(join(out, "run.json"), "utf8")).config.seed;
    assert.equal(seed, winner === b ? 5 : 3, "run.json is the winner's");
    assert.equal(loadTrainingCheckpoint(join(out, "checkpoint.safetensors")).epoch, 3);
    assert.ok(!fs.existsSync(join(out, ".lock")), "the lock is released");
  });
});

describe("the evaluation split is checked at start-up (item 5)", () => {
  test("a missing or undecodable evaluation image fails before anything is written", async () => {
    const data = at("bad-eval");
    fs.cpSync(task, data, { recursive: true });
    fs.writeFileSync(join(data, "images", "test", "2_3.png"), "not a png");
    const out = at("bad-eval-run");
    assertUserError(await inProcess(["train", "--data", data, ...COMMON, "--epochs", "2", "--out", out]), /test\.txt:12: evaluation split test: unreadable image .*2_3\.png/);
    assert.ok(!fs.existsSync(out), "nothing was written");
  });
});

describe("corruption is detected (item 7)", () => {
  test("eval on an adapter with a flipped byte says the file is corrupt", async () => {
    const dir = at("flipped");
    fs.cpSync(finished, dir, { recursive: true });
    const f = join(dir, "adapter", "adapter_model.safetensors");
    const bytes = fs.readFileSync(f);
    bytes[bytes.length - 2]! ^= 0x40;
    fs.writeFileSync(f, bytes);
    assertUserError(await inProcess(["eval", "--out", dir]), /adapter_model\.safetensors is corrupt/);
  });
});

describe("resume notices other data (item 10)", () => {
  test("other labels, another split or another class count are refused; the folder stays byte-identical", async () => {
    const before = snapshot(finished);
    const relabelled = at("relabelled");
    fs.cpSync(task, relabelled, { recursive: true });
    const list = join(relabelled, "train800val200.txt");
    fs.writeFileSync(list, fs.readFileSync(list, "utf8").replace(/ 0\n/, " 1\n"));
    assertUserError(await inProcess(["train", "--resume", "--out", finished, "--data", relabelled]),
      /resume refused: the data differ .*folder .*task -> .*relabelled; training list \(train800val200\) has other files or labels/);
    assertUserError(await inProcess(["train", "--resume", "--out", finished, "--train-split", "train800"]), /resume refused: .*training split: "train800val200" -> "train800"/);
    assertUserError(await inProcess(["train", "--resume", "--out", finished, "--num-classes", "5"]), /resume refused: .*class count: 3 -> 5/);
    assert.deepEqual(snapshot(finished), before);
  });

  test("a moved data folder with the same lists resumes with a note and is recorded in run.json", async () => {
    const dir = at("moved-run");
    fs.cpSync(finished, dir, { recursive: true });
    const moved = at("task-moved");
    fs.cpSync(task, moved, { recursive: true });
    const r = await inProcess(["train", "--resume", "--out", dir, "--data", moved, "--epochs", "3"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /note: resuming with the data folder moved \(.*task -> .*task-moved\); both split lists are the same/);
    assert.equal(JSON.parse(fs.readFileSync(join(dir, "run.json"), "utf8")).config.data, moved);
  });
});

describe("SIGTERM is handled as Ctrl-C (item 12)", () => {
  test("a terminated run checkpoints, exits 143 and resumes to the uninterrupted run's adapter", async () => {
    const out = at("sigterm");
    const p = spawnCli(["train", "--data", task, ...COMMON, "--epochs", "12", "--out", out]);
    const ckpt = join(out, "checkpoint.safetensors");
    while (!fs.existsSync(ckpt)) {
      if (p.child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    p.child.kill("SIGTERM");
    const k = await p.done;
    assert.equal(k.code, EXIT.terminated, k.stderr);
    assert.match(k.stderr, /SIGTERM: finishing the current step/);
    assert.match(k.stderr, /Resume with: snell train --resume --out /);
    assert.ok(loadTrainingCheckpoint(ckpt).epoch < 12);
    const r = await spawnCli(["train", "--resume", "--out", out, "--no-progress"]).done;
    assert.equal(r.code, 0, r.stderr);
    const s = await straight;
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(fs.readFileSync(join(out, "adapter", "adapter_model.safetensors")), fs.readFileSync(join(at("straight"), "adapter", "adapter_model.safetensors")));
  });
});
