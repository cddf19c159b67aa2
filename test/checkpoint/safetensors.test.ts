/** @file safetensors: write -> read round trips, half-precision decoding and hostile headers. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { FormatError, ShapeError } from "../../src/errors.js";
import {
  encodeSafetensors, loadSafetensors, parseSafetensors, readSafetensors, readSafetensorsHeader, writeSafetensors,
} from "../../src/checkpoint/safetensors.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snell-st-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Builds a file from a header object and raw data bytes, with an optional length override. */
function craft(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function writeTmp(name: string, bytes: Uint8Array): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Both entry points must reject the file with a FormatError naming it and matching `cause`. */
function assertRejected(name: string, bytes: Uint8Array, cause: RegExp): void {
  const p = writeTmp(name, bytes);
  for (const f of [() => readSafetensors(p), () => parseSafetensors(bytes, p)]) {
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
      assert.ok(e.message.includes(p), `message should name the file: ${e.message}`);
      assert.match(e.message, cause);
      return true;
    });
  }
}

describe("safetensors round trip", () => {
  const tensors = {
    "blocks.0.attn.qkv.weight": { shape: [3, 5], data: Float32Array.from({ length: 15 }, (_, i) => Math.sin(i) * 1e3) },
    cls_token: { shape: [1, 1, 4], data: new Float32Array([NaN, -0, Infinity, 1.401298464324817e-45]) },
    empty: { shape: [0, 7], data: new Float32Array(0) },
    scalar: { shape: [], data: new Float32Array([42.5]) },
  };

  test("write then read gives bit-identical values, shapes, order and metadata", () => {
    const p = path.join(dir, "rt.safetensors");
    writeSafetensors(p, tensors, { format: "pt", base_model: "vit_base_patch16_224" });
    const { tensors: got, metadata } = loadSafetensors(p);
    assert.deepEqual([...got.keys()], Object.keys(tensors));
    assert.deepEqual(metadata, { format: "pt", base_model: "vit_base_patch16_224" });
    for (const [k, t] of Object.entries(tensors)) {
      const r = got.get(k)!;
      assert.equal(r.dtype, "F32");
      assert.deepEqual(r.shape, t.shape);
      assert.deepEqual(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength),
        new Uint8Array(t.data.buffer), `bytes of ${k}`);
    }
    assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith(".tmp")).length, 0, "no temp file left behind");
  });

  test("write -> read -> write reproduces the file byte for byte, and the header is 8-byte aligned", () => {
    const a = path.join(dir, "a.safetensors");
    const b = path.join(dir, "b.safetensors");
    writeSafetensors(a, tensors, { k: "v" });
    const first = loadSafetensors(a);
    writeSafetensors(b, first.tensors, first.metadata);
    const ba = fs.readFileSync(a);
    assert.deepEqual(fs.readFileSync(b), ba);
    assert.equal(Number(ba.readBigUInt64LE(0)) % 8, 0);
    assert.deepEqual(encodeSafetensors(tensors, { k: "v" }), new Uint8Array(ba));
  });

  test("the in-memory parser aliases aligned F32 data instead of copying it", () => {
    const bytes = encodeSafetensors(tensors);
    const t = parseSafetensors(bytes).tensors.get("blocks.0.attn.qkv.weight")!;
    assert.equal(t.data.buffer, bytes.buffer);
    assert.deepEqual([...t.data], [...tensors["blocks.0.attn.qkv.weight"].data]);
  });

  test("header-only read returns entries without data", () => {
    const p = path.join(dir, "h.safetensors");
    writeSafetensors(p, tensors);
    const h = readSafetensorsHeader(p);
    assert.deepEqual(h.entries.map((e) => [e.name, e.shape]), Object.entries(tensors).map(([k, t]) => [k, t.shape]));
  });

  test("overwriting an existing file replaces it atomically", () => {
    const p = path.join(dir, "over.safetensors");
    writeSafetensors(p, { x: { shape: [2], data: new Float32Array([1, 2]) } });
    writeSafetensors(p, { y: { shape: [1], data: new Float32Array([3]) } });
    assert.deepEqual([...readSafetensors(p).keys()], ["y"]);
  });

  test("a shape that does not match the data is a ShapeError and writes nothing", () => {
    const p = path.join(dir, "bad-shape.safetensors");
    assert.throws(() => writeSafetensors(p, { x: { shape: [2, 2], data: new Float32Array(3) } }), ShapeError);
    assert.equal(fs.existsSync(p), false);
  });
});

describe("safetensors decoding", () => {
  test("F16, BF16, F64 and I64 convert to float32 exactly", () => {
    const data = new Uint8Array(8 + 8 + 16 + 16);
    const dv = new DataView(data.buffer);
    [0x3c00, 0xc000, 0x0001, 0x7c00].forEach((h, i) => dv.setUint16(2 * i, h, true)); // 1, -2, 2^-24, inf
    [0x3f80, 0xc049, 0x0000, 0xff80].forEach((h, i) => dv.setUint16(8 + 2 * i, h, true)); // 1, -3.140625, 0, -inf
    [0.5, -1e300].forEach((x, i) => dv.setFloat64(16 + 8 * i, x, true));
    [7n, -3n].forEach((x, i) => dv.setBigInt64(32 + 8 * i, x, true));
    const bytes = craft({
      h: { dtype: "F16", shape: [4], data_offsets: [0, 8] },
      b: { dtype: "BF16", shape: [2, 2], data_offsets: [8, 16] },
      d: { dtype: "F64", shape: [2], data_offsets: [16, 32] },
      l: { dtype: "I64", shape: [2], data_offsets: [32, 48] },
    }, data);
    const p = writeTmp("half.safetensors", bytes);
    for (const got of [readSafetensors(p), parseSafetensors(bytes).tensors]) {
      assert.deepEqual([...got.get("h")!.data], [1, -2, 2 ** -24, Infinity]);
      assert.deepEqual([...got.get("b")!.data], [1, -3.140625, 0, -Infinity]);
      assert.deepEqual([...got.get("d")!.data], [0.5, -Infinity]);
      assert.deepEqual([...got.get("l")!.data], [7, -3]);
      assert.equal(got.get("b")!.dtype, "BF16");
    }
  });

  test("unaligned F32 data (odd header length) is copied, not misread", () => {
    const data = new Uint8Array(new Float32Array([1.5, -2.25]).buffer);
    const bytes = craft({ __metadata__: { pad: "a" }, x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, data);
    assert.notEqual((bytes.length - 8) % 4, 0);
    assert.deepEqual([...parseSafetensors(bytes).tensors.get("x")!.data], [1.5, -2.25]);
  });
});

describe("hostile safetensors files are rejected with a FormatError naming the file", () => {
  const ok = { x: { dtype: "F32", shape: [2], data_offsets: [0, 8] } };
  const eight = new Uint8Array(8);
  const rows: [string, Uint8Array, RegExp][] = [
    ["empty file", new Uint8Array(0), /truncated/],
    ["truncated length field", new Uint8Array(5), /truncated/],
    ["header length larger than the file", craft(ok, eight, 1000n), /exceeds the file size/],
    ["header length near 2^64", craft(ok, eight, 0xffffffffffffff00n), /exceeds the file size/],
    ["truncated data", craft(ok, eight).subarray(0, 8 + JSON.stringify(ok).length + 3), /data_offsets|cover/],
    ["header that is not JSON", craft({}, eight, 4n), /JSON/],
    ["header that is a JSON array", craft([1, 2], new Uint8Array(0)), /JSON object/],
    ["unknown dtype", craft({ x: { dtype: "F128", shape: [1], data_offsets: [0, 8] } }, eight), /unsupported dtype "F128"/],
    ["shape/offset size mismatch", craft({ x: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, eight), /needs 12 bytes/],
    ["out-of-range offsets", craft({ x: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, eight), /out of range/],
    ["reversed offsets", craft({ x: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, eight), /out of range/],
    ["overlapping offsets", craft({
      x: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, y: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
    }, eight), /overlap/],
    ["a gap between tensors", craft({ x: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, eight), /gap/],
    ["trailing bytes not covered", craft({ x: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, eight), /cover/],
    ["negative dimension", craft({ x: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, eight), /invalid dimension/],
    ["fractional offset", craft({ x: { dtype: "F32", shape: [2], data_offsets: [0, 8.5] } }, eight), /data_offsets/],
    ["non-string metadata", craft({ __metadata__: { a: 1 }, ...ok }, eight), /__metadata__/],
    ["huge shape", craft({ x: { dtype: "F32", shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 8] } }, eight), /too large/],
  ];
  for (const [title, bytes, cause] of rows) {
    test(title, () => assertRejected(`${title.replace(/\W+/g, "-")}.safetensors`, bytes, cause));
  }

  test("a missing file is a FormatError naming it", () => {
    assert.throws(() => readSafetensors(path.join(dir, "nope.safetensors")), /nope\.safetensors: cannot open/);
  });
});
