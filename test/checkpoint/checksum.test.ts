/**
 * @file Per-tensor sha256 in safetensors metadata: written on save, verified on load, so one flipped byte
 * in an adapter or a training checkpoint is reported as a corrupt file instead of loading silently.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CHECKSUM_KEY } from "../../src/checkpoint/checksum.js";
import { loadSafetensors, parseSafetensors, readSafetensorsHeader, writeSafetensors } from "../../src/checkpoint/safetensors.js";
import { FormatError } from "../../src/errors.js";
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from "../../src/train/checkpoint.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snell-sum-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const FIXTURE = fileURLToPath(new URL("../fixtures/checkpoint/half.safetensors", import.meta.url));

const tensors = new Map([
  ["a", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
  ["b", { shape: [4], data: Float32Array.from([-1, 0.5, 7, 9]) }],
]);

/** The raw `__metadata__` object as stored in the file's header. */
function rawMetadata(file: string): Record<string, string> {
  const bytes = fs.readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  return (JSON.parse(bytes.subarray(8, 8 + n).toString("utf8")) as { __metadata__: Record<string, string> }).__metadata__;
}

/** Copies `file` with the byte at `offset` from the end of the file XOR-ed (inside the last tensor's data). */
function flipped(file: string, name: string, fromEnd: number): string {
  const bytes = fs.readFileSync(file);
  bytes[bytes.length - fromEnd]! ^= 0x10;
  const out = path.join(dir, name);
  fs.writeFileSync(out, bytes);
  return out;
}

const corrupt = (file: string, tensor: string) => (e: unknown) =>
  e instanceof FormatError && e.message.includes(file) && /is corrupt/.test(e.message) && e.message.includes(`"${tensor}"`);

describe("safetensors checksums", () => {
  const file = path.join(dir, "t.safetensors");
  writeSafetensors(file, tensors, { format: "pt" });

  test("the writer stores the sha256 of every tensor's bytes; readers hide the entry", () => {
    const sums = JSON.parse(rawMetadata(file)[CHECKSUM_KEY]!) as Record<string, string>;
    const le = (t: Float32Array) => Buffer.from(t.buffer, t.byteOffset, t.byteLength);
    assert.deepEqual(sums, Object.fromEntries([...tensors].map(([k, t]) => [k, createHash("sha256").update(le(t.data)).digest("hex")])));
    assert.deepEqual(loadSafetensors(file).metadata, { format: "pt" });
    assert.deepEqual(readSafetensorsHeader(file).metadata, { format: "pt" });
  });

  test("one flipped data byte is reported as a corrupt file naming the tensor", () => {
    const bad = flipped(file, "bad.safetensors", 3);
    assert.throws(() => loadSafetensors(bad), corrupt(bad, "b"));
    assert.throws(() => parseSafetensors(fs.readFileSync(bad), bad), corrupt(bad, "b"));
  });

  test("a checksum list that does not cover the tensors is corrupt", () => {
    const bytes = fs.readFileSync(file);
    const text = bytes.toString("latin1").replace(`\\"a\\":`, `\\"z\\":`);
    const bad = path.join(dir, "renamed.safetensors");
    fs.writeFileSync(bad, Buffer.from(text, "latin1"));
    assert.throws(() => loadSafetensors(bad), (e: unknown) => e instanceof FormatError && /is corrupt: the checksum list/.test(e.message));
  });

  test("files without checksums (older or foreign writers) still load", () => {
    assert.equal(rawMetadata(FIXTURE)?.[CHECKSUM_KEY], undefined);
    assert.ok(loadSafetensors(FIXTURE).tensors.size > 0);
  });
});

describe("training checkpoint checksums", () => {
  test("a flipped byte in checkpoint.safetensors is refused as corrupt instead of resuming into NaN", () => {
    const file = path.join(dir, "checkpoint.safetensors");
    saveTrainingCheckpoint(file, {
      params: new Map([["w", { shape: [3], data: Float32Array.from([1, 2, 3]) }]]),
      optimizer: new Map([["exp_avg/w", { shape: [3], data: Float32Array.from([0.1, 0.2, 0.3]) }]]),
      rng: { seed: 1 }, step: 4, epoch: 1, accuracy: { last: null, best: null }, config: null, fingerprint: "f",
    });
    assert.equal(loadTrainingCheckpoint(file).step, 4);
    // The exponent byte of the last value: 0.3 becomes a huge number, which trains into NaN.
    const bad = flipped(file, "checkpoint-bad.safetensors", 1);
    assert.throws(() => loadTrainingCheckpoint(bad), corrupt(bad, "optim/exp_avg/w"));
  });
});
