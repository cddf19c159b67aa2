/** @file Atomic writes and training checkpoints: exact round trip, crash between write and rename, fingerprint refusal. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { ConfigError, FormatError } from "../../src/errors.js";
import { removeStaleTemps, writeFileAtomic } from "../../src/checkpoint/atomic.js";
import {
  type TrainingCheckpoint, canonicalJson, loadTrainingCheckpoint, modelFingerprint, saveTrainingCheckpoint,
} from "../../src/train/checkpoint.js";
import { writeSafetensors } from "../../src/checkpoint/safetensors.js";
import { Rng } from "../../src/random.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snell-ckpt-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const tmpFiles = () => fs.readdirSync(dir).filter((n) => n.endsWith(".tmp"));

describe("writeFileAtomic", () => {
  test("replaces the content and leaves no temp file", () => {
    const f = path.join(dir, "a.txt");
    writeFileAtomic(f, "one");
    writeFileAtomic(f, [new Uint8Array([116, 119]), new Uint8Array([111])]);
    assert.equal(fs.readFileSync(f, "utf8"), "two");
    assert.deepEqual(tmpFiles(), []);
  });
  test("a crash between the temp write and the rename keeps the previous file and removes the temp", () => {
    const f = path.join(dir, "b.txt");
    writeFileAtomic(f, "old");
    let seen = "";
    assert.throws(() => writeFileAtomic(f, "new", {
      beforeRename: (tmp) => { seen = fs.readFileSync(tmp, "utf8"); throw new Error("simulated crash"); },
    }), /simulated crash/);
    assert.equal(seen, "new", "the temp file was complete before the rename");
    assert.equal(fs.readFileSync(f, "utf8"), "old");
    assert.deepEqual(tmpFiles(), []);
  });
  test("stale temps of a killed writer are found and removed", () => {
    const f = path.join(dir, "c.bin");
    fs.writeFileSync(path.join(dir, ".c.bin.123.deadbeef.tmp"), "x");
    fs.writeFileSync(path.join(dir, ".other.bin.1.ab.tmp"), "x");
    assert.deepEqual(removeStaleTemps(f).map((p) => path.basename(p)), [".c.bin.123.deadbeef.tmp"]);
    fs.rmSync(path.join(dir, ".other.bin.1.ab.tmp"));
  });
});

function sample(seed: number): TrainingCheckpoint {
  const rng = new Rng(seed);
  const t = (shape: number[]) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()) });
  const special = new Float32Array([0, -0, 1e-45, 3.4028235e38, -Infinity, Infinity, NaN, 1 / 3]);
  const rngState = new Rng(99);
  rngState.uniform();
  return {
    params: new Map([["blocks.0.attn.qkv.snell_A", t([8, 32])], ["head.weight", t([10, 32])], ["special", { shape: [8], data: special }]]),
    optimizer: new Map([["exp_avg/head.weight", t([10, 32])], ["exp_avg_sq/head.weight", t([10, 32])]]),
    rng: { shuffle: rngState.state, augment: 4294967295, workers: [1, 2, 3] },
    step: 1234,
    epoch: 7,
    accuracy: { last: { epoch: 6, top1: 81.25, top5: 99.5 }, best: { epoch: 4, top1: 82.5, top5: 99 } },
    config: { recipe: "vtab/cifar", lr: 0.001, nested: { ranks: [8, 16] } },
    fingerprint: modelFingerprint({ variant: "vit_tiny", classes: 10 }),
    fingerprintDescription: "vit_tiny, 10 classes, snell r8",
  };
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe("training checkpoint", () => {
  test("reads back exactly: bit-identical tensors (NaN, -0, denormals), counters, RNG, accuracy and config", () => {
    const f = path.join(dir, "last.safetensors");
    const c = sample(1);
    saveTrainingCheckpoint(f, c);
    const back = loadTrainingCheckpoint(f, { fingerprint: c.fingerprint });
    for (const key of ["params", "optimizer"] as const) {
      assert.deepEqual([...back[key].keys()], [...c[key].keys()]);
      for (const [name, t] of c[key]) {
        assert.deepEqual(back[key].get(name)!.shape, t.shape, name);
        assert.deepEqual(bits(back[key].get(name)!.data), bits(t.data), name);
      }
    }
    assert.deepEqual(
      { rng: back.rng, step: back.step, epoch: back.epoch, accuracy: back.accuracy, config: back.config, fp: back.fingerprint, d: back.fingerprintDescription },
      { rng: c.rng, step: c.step, epoch: c.epoch, accuracy: c.accuracy, config: c.config, fp: c.fingerprint, d: c.fingerprintDescription },
    );
    const r = new Rng(back.rng.shuffle as number);
    const expected = new Rng(99);
    expected.uniform();
    assert.equal(r.uniform(), expected.uniform(), "restored RNG continues the same stream");
  });
  test("a crash between temp write and rename leaves the previous checkpoint loadable and unchanged", () => {
    const f = path.join(dir, "crash.safetensors");
    const first = sample(2);
    saveTrainingCheckpoint(f, first);
    const before = fs.readFileSync(f);
    const second = { ...sample(3), step: 9999, epoch: 8 };
    assert.throws(() => saveTrainingCheckpoint(f, second, { beforeRename: () => { throw new Error("killed"); } }), /killed/);
    assert.ok(fs.readFileSync(f).equals(before));
    const back = loadTrainingCheckpoint(f);
    assert.equal(back.step, first.step);
    assert.deepEqual(bits(back.params.get("head.weight")!.data), bits(first.params.get("head.weight")!.data));
    assert.deepEqual(tmpFiles(), []);
  });
  test("a checkpoint of another model is refused with a ConfigError naming both fingerprints", () => {
    const f = path.join(dir, "other.safetensors");
    const c = sample(4);
    saveTrainingCheckpoint(f, c);
    const ours = modelFingerprint({ variant: "vit_tiny", classes: 5 });
    assert.throws(() => loadTrainingCheckpoint(f, { fingerprint: ours, fingerprintDescription: "vit_tiny, 5 classes, snell r8" }), (e: unknown) =>
      e instanceof ConfigError && e.message.includes(f) && e.message.includes(c.fingerprint) && e.message.includes(ours) &&
      e.message.includes("10 classes") && e.message.includes("5 classes"));
  });
  test("a plain safetensors file (weights, not a training checkpoint) is a FormatError; a missing one a ConfigError", () => {
    const f = path.join(dir, "weights.safetensors");
    writeSafetensors(f, { w: { shape: [2], data: new Float32Array([1, 2]) } });
    assert.throws(() => loadTrainingCheckpoint(f), (e: unknown) => e instanceof FormatError && /not a training checkpoint/.test(e.message));
    assert.throws(() => loadTrainingCheckpoint(path.join(dir, "nope.safetensors")), ConfigError);
  });
  test("fingerprints ignore key order and change with any identifying value", () => {
    assert.equal(canonicalJson({ b: 1, a: [{ y: 2, x: 1 }] }), '{"a":[{"x":1,"y":2}],"b":1}');
    assert.equal(modelFingerprint({ a: 1, b: 2 }), modelFingerprint({ b: 2, a: 1 }));
    assert.notEqual(modelFingerprint({ a: 1, b: 2 }), modelFingerprint({ a: 1, b: 3 }));
    assert.match(modelFingerprint({}), /^[0-9a-f]{32}$/);
  });
  test("a negative or fractional step is refused before anything is written", () => {
    const f = path.join(dir, "bad.safetensors");
    assert.throws(() => saveTrainingCheckpoint(f, { ...sample(5), step: 1.5 }), ConfigError);
    assert.equal(fs.existsSync(f), false);
  });
});
