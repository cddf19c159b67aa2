/** @file NumPy .npy/.npz: numpy-written fixtures decode exactly; malformed arrays are rejected. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { strToU8, unzipSync, zipSync } from "fflate";
import { FormatError } from "../../src/errors.js";
import { parseNpy } from "../../src/checkpoint/npy.js";
import { parseNpz, readNpz } from "../../src/checkpoint/npz.js";

const FIX = path.join(import.meta.dirname, "..", "fixtures", "checkpoint");
type Expected = Record<string, Record<string, { shape: number[]; values: number[] }>>;
const WANT = (JSON.parse(fs.readFileSync(path.join(FIX, "expected.json"), "utf8")) as Expected)["vit.npz"]!;

/** An .npy file with a v1 header padded to 64 bytes, as numpy writes it. */
function npy(header: string, data: Uint8Array, major = 1): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  let h = header;
  while ((pre + h.length + 1) % 64 !== 0) h += " ";
  h += "\n";
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(strToU8(h), pre);
  out.set(data, pre + h.length);
  return out;
}

function assertFormatError(f: () => unknown, source: string, cause: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    assert.ok(e.message.includes(source), `message should name ${source}: ${e.message}`);
    assert.match(e.message, cause);
    return true;
  });
}

describe("npz files written by numpy", () => {
  for (const file of ["vit.npz", "vit_compressed.npz"]) {
    test(`${file} gives raw Google key names and exact values (f4, f8, f2, 0-d)`, () => {
      const got = readNpz(path.join(FIX, file));
      assert.deepEqual([...got.keys()].sort(), Object.keys(WANT).sort());
      for (const [k, w] of Object.entries(WANT)) {
        assert.deepEqual(got.get(k)!.shape, w.shape, k);
        assert.deepEqual([...got.get(k)!.data], w.values.map(Math.fround), k);
      }
      assert.equal(got.get("embedding/bias")!.dtype, "F16");
      assert.equal(got.get("Transformer/encoderblock_0/MultiHeadDotProductAttention_1/query/kernel")!.dtype, "F64");
    });
  }

  test("the in-memory reader matches the file reader (numpy does not align members: copies where needed)", () => {
    const file = path.join(FIX, "vit.npz");
    const a = readNpz(file);
    for (const [k, t] of parseNpz(fs.readFileSync(file), "vit")) assert.deepEqual(t, a.get(k), k);
  });

  test("a zip with a truncated member and a missing end record are FormatErrors", () => {
    const bytes = fs.readFileSync(path.join(FIX, "vit.npz"));
    assertFormatError(() => parseNpz(bytes.subarray(0, bytes.length - 10), "cut.npz"), "cut.npz", /end-of-central-directory/);
    const m = unzipSync(bytes);
    const bad = zipSync({ ...m, "cls.npy": m["cls.npy"]!.subarray(0, 100) }, { level: 0 });
    assertFormatError(() => parseNpz(bad, "short.npz"), "short.npz:cls.npy", /runs past the end/);
  });

  test("a member that is not .npy is refused", () => {
    assertFormatError(() => parseNpz(zipSync({ "x.pkl": new Uint8Array(3) }), "odd.npz"), "odd.npz", /not an \.npy/);
  });
});

describe("npy headers", () => {
  const f4 = new Uint8Array(new Float32Array([1, -2, 3.5, 0.25, 8, -1]).buffer);
  test("v1 and v2 headers, shapes with and without trailing commas", () => {
    for (const [h, major, shape] of [
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, [2, 3]],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 2, [6]],
      ["{'shape': (3, 2), 'fortran_order': False, 'descr': '<f4'}", 1, [3, 2]],
    ] as const) {
      const t = parseNpy(npy(h, f4, major));
      assert.deepEqual(t.shape, shape);
      assert.deepEqual([...t.data], [1, -2, 3.5, 0.25, 8, -1]);
    }
  });

  const rows: [string, Uint8Array, RegExp][] = [
    ["bad magic", strToU8("NUMPY\x01\x00...."), /bad magic/],
    ["truncated data", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", f4), /needs 32 data bytes.*truncated/],
    ["trailing data", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", f4), /needs 20 data bytes/],
    ["truncated header", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f4).subarray(0, 40), /runs past the end/],
    ["fortran order", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f4), /fortran_order/],
    ["big-endian floats", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", f4), /unsupported \.npy dtype '>f4'/],
    ["pickled object arrays", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", f4), /unsupported \.npy dtype '\|O'/],
    ["structured dtype", npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", f4), /lacks descr/],
    ["negative dimension", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-6,), }", f4), /bad \.npy dimension/],
    ["unknown version", (() => { const b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", f4); b[6] = 9; return b; })(), /version 9/],
  ];
  for (const [title, bytes, cause] of rows) {
    test(`${title} is a FormatError`, () => assertFormatError(() => parseNpy(bytes, "a.npy"), "a.npy", cause));
  }
});
