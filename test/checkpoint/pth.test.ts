/** @file PyTorch checkpoints written by torch 1.13 load with the right values; hostile pickles and zips are rejected. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { strToU8, unzipSync, zipSync } from "fflate";
import { FormatError } from "../../src/errors.js";
import { PickleObject, unpickle } from "../../src/checkpoint/pickle.js";
import { TorchTensor, parsePth, readPth } from "../../src/checkpoint/pth.js";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import type { NamedTensor } from "../../src/checkpoint/tensor.js";

const FIX = path.join(import.meta.dirname, "..", "fixtures", "checkpoint");
type Expected = Record<string, Record<string, { shape: number[]; values: number[] }>>;
const EXPECTED = JSON.parse(fs.readFileSync(path.join(FIX, "expected.json"), "utf8")) as Expected;

/** Compares a reader's tensors with expected.json (values are exact in every stored dtype). */
function assertMatchesExpected(file: string, got: Map<string, NamedTensor>): void {
  const want = EXPECTED[file]!;
  assert.deepEqual([...got.keys()].sort(), Object.keys(want).sort(), `${file} keys`);
  for (const [k, w] of Object.entries(want)) {
    const t = got.get(k)!;
    assert.deepEqual(t.shape, w.shape, `${file} ${k} shape`);
    assert.deepEqual([...t.data], w.values.map(Math.fround), `${file} ${k} values`);
  }
}

/** Asserts a FormatError naming `source` whose message matches `cause`. */
function assertFormatError(f: () => unknown, source: string, cause: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.ok(e.message.includes(source), `message should name ${source}: ${e.message}`);
    assert.match(e.message, cause);
    return true;
  });
}

/** Pickle bytes from a byte-string literal ("\x80\x02..." style). */
const pkl = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** A torch-style zip holding the given members (stored, like torch.save). */
function torchZip(members: Record<string, Uint8Array>): Uint8Array {
  return zipSync(members, { level: 0 });
}

describe("PyTorch checkpoints written by torch 1.13", () => {
  test("a plain state dict: dtypes, Parameter, storage offset, strides, shared storage, empty", () => {
    const r = readPth(path.join(FIX, "state_dict.pth"));
    assert.equal(r.stateDictKey, "");
    assertMatchesExpected("state_dict.pth", r.tensors);
    assert.equal(r.tensors.get("half")!.dtype, "F16");
    assert.equal(r.tensors.get("bfloat")!.dtype, "BF16");
    assert.equal(r.tensors.get("num_batches_tracked")!.dtype, "I64");
  });

  test("the buffer reader gives the same tensors and aliases contiguous F32 storages", () => {
    const bytes = fs.readFileSync(path.join(FIX, "state_dict.pth"));
    const r = parsePth(bytes, "sd");
    assertMatchesExpected("state_dict.pth", r.tensors);
    assert.equal(r.tensors.get("shared_full")!.data.buffer, bytes.buffer);
  });

  test("MAE layout: state dict under 'model'; args kept as an inert Namespace record", () => {
    const r = readPth(path.join(FIX, "mae.pth"));
    assert.equal(r.stateDictKey, "model");
    assertMatchesExpected("mae.pth", r.tensors);
    const raw = r.raw as Map<string, unknown>;
    assert.equal(raw.get("epoch"), 5);
    const args = raw.get("args") as PickleObject;
    assert.equal(args.global, "argparse.Namespace");
    assert.equal((args.state as Map<string, unknown>).get("model"), "mae_vit_base_patch16");
  });

  test("MoCo v3 layout: 'state_dict' with 'module.' stripped and base_encoder kept", () => {
    const r = readPth(path.join(FIX, "moco.pth.tar"));
    assert.equal(r.stateDictKey, "state_dict");
    assertMatchesExpected("moco.pth.tar", r.tensors);
    assert.equal((r.raw as Map<string, unknown>).get("epoch"), 3);
  });

  test("the zip64 end record torch writes is used when the classic one is saturated", () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIX, "state_dict.pth")));
    const dv = new DataView(bytes.buffer);
    let eocd = bytes.length - 22;
    while (dv.getUint32(eocd, true) !== 0x06054b50) eocd--;
    dv.setUint16(eocd + 10, 0xffff, true);
    dv.setUint32(eocd + 12, 0xffffffff, true);
    dv.setUint32(eocd + 16, 0xffffffff, true);
    assertMatchesExpected("state_dict.pth", parsePth(bytes, "z64").tensors);
  });

  test("an explicit stateDictKey is honoured, and lazy tensors in raw load from a buffer read", () => {
    const r = parsePth(fs.readFileSync(path.join(FIX, "mae.pth")), "mae", { stateDictKey: "model" });
    const t = (r.raw as Map<string, Map<string, unknown>>).get("model")!.get("cls_token");
    assert.ok(t instanceof TorchTensor);
    assert.deepEqual([...t.load().data], EXPECTED["mae.pth"]!["cls_token"]!.values);
    assertFormatError(() => readPth(path.join(FIX, "mae.pth"), { stateDictKey: "optimizer" }), "mae.pth", /no dict under key "optimizer"/);
  });
});

describe("the other fixtures decode to the same values", () => {
  test("hand-written safetensors with F32, F16 and BF16", () => {
    assertMatchesExpected("half.safetensors", readSafetensors(path.join(FIX, "half.safetensors")));
  });
});

describe("hostile PyTorch files are rejected with a FormatError naming the file", () => {
  test("GLOBAL os.system in a torch-style zip (fixture) is refused before anything runs", () => {
    const file = path.join(FIX, "hostile_os_system.pth");
    assertFormatError(() => readPth(file), file, /GLOBAL "os\.system" is not allowed/);
  });

  const rows: [string, string, RegExp][] = [
    ["GLOBAL builtins.eval", "\x80\x02cbuiltins\neval\nX\x03\x00\x00\x001+1\x85R.", /GLOBAL "builtins\.eval"/],
    ["STACK_GLOBAL subprocess.Popen", "\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93]\x85R.", /GLOBAL "subprocess\.Popen"/],
    ["protocol 0 INST opcode", "(ios\nsystem\n.", /opcode 0x69 is not allowed/],
    ["REDUCE on a plain string", "\x80\x02X\x01\x00\x00\x00a)R.", /REDUCE on a non-callable/],
    ["undefined memo key", "\x80\x02h\x07.", /memo key 7/],
    ["stack underflow", "\x80\x02\x86.", /stack underflow/],
    ["pickle without STOP", "\x80\x02}q\x00", /without STOP/],
    ["string length past the end", "\x80\x02X\xff\xff\xff\x7f.", /truncated/],
    ["persistent id of a storage the zip lacks", "\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ.", /zip entry "archive\/data\/0" is missing/],
  ];
  for (const [title, body, cause] of rows) {
    test(title, () => {
      const bytes = torchZip({ "archive/data.pkl": pkl(body), "archive/version": strToU8("3\n") });
      assertFormatError(() => parsePth(bytes, "evil.pth"), "evil.pth", cause);
    });
  }

  test("the data-only unpickler rejects a GLOBAL even with no torch handlers", () => {
    assertFormatError(() => unpickle(pkl("\x80\x02ccollections\nOrderedDict\n)R."), "p.pkl", { globals: {} }), "p.pkl", /not allowed/);
  });

  const sdBytes = fs.readFileSync(path.join(FIX, "state_dict.pth"));
  const members = unzipSync(sdBytes);

  test("a zip with a missing storage entry", () => {
    const { ["state_dict/data/0"]: _gone, ...rest } = members;
    assertFormatError(() => parsePth(torchZip(rest), "missing.pth"), "missing.pth", /zip entry "state_dict\/data\/0" is missing/);
  });

  test("a storage too short for its tensor", () => {
    const short = { ...members, "state_dict/data/6": members["state_dict/data/6"]!.subarray(0, 40) };
    assertFormatError(() => parsePth(torchZip(short), "short.pth"), "short.pth", /reach element .* of a 10-element storage/);
  });

  test("a storage whose length is not a whole number of elements", () => {
    const odd = { ...members, "state_dict/data/0": members["state_dict/data/0"]!.subarray(0, 47) };
    assertFormatError(() => parsePth(torchZip(odd), "odd.pth"), "odd.pth", /not a multiple/);
  });

  test("a truncated checkpoint", () => {
    assertFormatError(() => parsePth(sdBytes.subarray(0, sdBytes.length - 30), "cut.pth"), "cut.pth", /end-of-central-directory|past the end/);
  });

  test("a legacy (non-zip) torch.save file", () => {
    assertFormatError(() => parsePth(pkl("\x80\x02\x8a\x0a"), "old.pth"), "old.pth", /legacy/);
  });

  test("a pickle with no tensors at all", () => {
    const bytes = torchZip({ "archive/data.pkl": pkl("\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.") });
    assertFormatError(() => parsePth(bytes, "empty.pth"), "empty.pth", /no state dict found .*top-level keys: a/);
  });
});

describe("the unpickler decodes plain data", () => {
  test("ints of every width, floats, strings, bytes, tuples, lists, dicts and memo references", () => {
    const v = unpickle(pkl(
      "\x80\x02}q\x00(X\x01\x00\x00\x00a]q\x01(K\x05M\x00\x01J\xfe\xff\xff\xff\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"
      + "G?\xf8\x00\x00\x00\x00\x00\x00\x88\x89Ne" + "X\x01\x00\x00\x00bh\x01" + "X\x01\x00\x00\x00cC\x02\x01\x02u.",
    ), "p", { globals: {} }) as Map<string, unknown>;
    assert.deepEqual(v.get("a"), [5, 256, -2, 2n ** 63n, 1.5, true, false, null]);
    assert.equal(v.get("b"), v.get("a"), "memo shares the object");
    assert.deepEqual(v.get("c"), new Uint8Array([1, 2]));
    assert.deepEqual([...v.keys()], ["a", "b", "c"]);
  });
});
