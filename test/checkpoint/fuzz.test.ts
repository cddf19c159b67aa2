/** @file Seeded fuzzing of every checkpoint reader: each mutated file parses cleanly or throws FormatError, quickly. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { unzipSync } from "fflate";
import { FormatError } from "../../src/errors.js";
import { Rng } from "../../src/random.js";
import { parseNpy } from "../../src/checkpoint/npy.js";
import { parseNpz } from "../../src/checkpoint/npz.js";
import { PickleObject } from "../../src/checkpoint/pickle.js";
import { TorchTensor, parsePth } from "../../src/checkpoint/pth.js";
import { encodeSafetensors, parseSafetensors, readSafetensors } from "../../src/checkpoint/safetensors.js";

const FIX = path.join(import.meta.dirname, "..", "fixtures", "checkpoint");
const CASES_PER_BASE = 120;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "snell-fuzz-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Loads every lazy tensor reachable from an unpickled object, so a success really read everything. */
function touchAll(v: unknown, seen = new Set<unknown>()): void {
  if (typeof v !== "object" || v === null || seen.has(v)) return;
  seen.add(v);
  if (v instanceof TorchTensor) v.load();
  else if (v instanceof Map) for (const [k, x] of v) { touchAll(k, seen); touchAll(x, seen); }
  else if (Array.isArray(v)) for (const x of v) touchAll(x, seen);
  else if (v instanceof PickleObject) { touchAll(v.args, seen); touchAll(v.state, seen); }
}

interface Base {
  name: string;
  bytes: Uint8Array;
  /** Byte range most worth mutating (headers, pickle, central directory). */
  hot: [number, number];
  /** Offsets of length fields to overwrite with hostile values. */
  lengths: { at: number; width: 2 | 4 | 8 }[];
  parse: (b: Uint8Array, source: string) => void;
}

function findBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Offsets of the u32 size/offset fields in a zip's central directory and end record. */
function zipLengthFields(b: Uint8Array): { at: number; width: 4 }[] {
  const out: { at: number; width: 4 }[] = [];
  for (let i = 0; i + 46 <= b.length; i++) {
    if (b[i] === 0x50 && b[i + 1] === 0x4b && b[i + 2] === 0x01 && b[i + 3] === 0x02) out.push({ at: i + 20, width: 4 }, { at: i + 24, width: 4 }, { at: i + 42, width: 4 });
    if (b[i] === 0x50 && b[i + 1] === 0x4b && b[i + 2] === 0x05 && b[i + 3] === 0x06) out.push({ at: i + 12, width: 4 }, { at: i + 16, width: 4 });
  }
  return out;
}

function pthBase(file: string): Base {
  const bytes = new Uint8Array(fs.readFileSync(path.join(FIX, file)));
  const pkl = Object.entries(unzipSync(bytes)).find(([k]) => k.endsWith("data.pkl"))![1];
  const at = findBytes(bytes, pkl.subarray(0, 32));
  assert.ok(at > 0, `pickle of ${file} found in the zip`);
  return {
    name: file, bytes, hot: [at, at + pkl.length], lengths: zipLengthFields(bytes),
    parse: (b, s) => touchAll(parsePth(b, s).raw),
  };
}

function npzBase(file: string): Base {
  const bytes = new Uint8Array(fs.readFileSync(path.join(FIX, file)));
  return { name: file, bytes, hot: [0, 200], lengths: zipLengthFields(bytes), parse: (b, s) => void parseNpz(b, s) };
}

const st = encodeSafetensors({
  a: { shape: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i - 2.5) },
  b: { shape: [4], data: new Float32Array([1, 2, 3, 4]) },
}, { format: "pt" });
const half = new Uint8Array(fs.readFileSync(path.join(FIX, "half.safetensors")));
const npyBytes = unzipSync(fs.readFileSync(path.join(FIX, "vit.npz")))["Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel.npy"]!;

const BASES: Base[] = [
  { name: "f32.safetensors", bytes: st, hot: [0, Number(new DataView(st.buffer).getBigUint64(0, true)) + 8], lengths: [{ at: 0, width: 8 }], parse: (b, s) => void parseSafetensors(b, s) },
  { name: "half.safetensors", bytes: half, hot: [0, Number(new DataView(half.buffer).getBigUint64(0, true)) + 8], lengths: [{ at: 0, width: 8 }], parse: (b, s) => void parseSafetensors(b, s) },
  { name: "kernel.npy", bytes: npyBytes, hot: [0, 128], lengths: [{ at: 8, width: 2 }], parse: (b, s) => void parseNpy(b, s) },
  npzBase("vit.npz"),
  npzBase("vit_compressed.npz"),
  pthBase("state_dict.pth"),
  pthBase("mae.pth"),
  pthBase("moco.pth.tar"),
];

/** Hostile values for a length field: off by a little, zero, all ones, huge, negative as signed. */
function hostileLength(rng: Rng, width: number, old: bigint): bigint {
  const max = (1n << BigInt(8 * width)) - 1n;
  const picks = [0n, 1n, max, max >> 1n, old + 1n, old - 1n, old * 2n, old + BigInt(rng.int(64)) - 32n, BigInt(rng.int(1 << 30))];
  const v = picks[rng.int(picks.length)]!;
  return ((v % (max + 1n)) + max + 1n) % (max + 1n);
}

function mutate(base: Base, rng: Rng): { bytes: Uint8Array; how: string } {
  const b = base.bytes.slice();
  const kind = rng.int(5);
  if (kind === 0 || kind === 1) { // byte flips, anywhere or in the hot region
    const [lo, hi] = kind === 0 ? [0, b.length] : base.hot;
    const n = 1 + rng.int(8);
    const at: number[] = [];
    for (let i = 0; i < n; i++) { const p = lo + rng.int(hi - lo); at.push(p); b[p] = rng.int(256); }
    return { bytes: b, how: `set bytes ${at.join(",")}` };
  }
  if (kind === 2) { // truncation
    const len = rng.int(b.length);
    return { bytes: b.subarray(0, len), how: `truncate to ${len}` };
  }
  if (kind === 3 && base.lengths.length > 0) { // length-field changes
    const f = base.lengths[rng.int(base.lengths.length)]!;
    const dv = new DataView(b.buffer);
    const old = f.width === 2 ? BigInt(dv.getUint16(f.at, true)) : f.width === 4 ? BigInt(dv.getUint32(f.at, true)) : dv.getBigUint64(f.at, true);
    const v = hostileLength(rng, f.width, old);
    if (f.width === 2) dv.setUint16(f.at, Number(v), true);
    else if (f.width === 4) dv.setUint32(f.at, Number(v), true);
    else dv.setBigUint64(f.at, v, true);
    return { bytes: b, how: `length at ${f.at}: ${old} -> ${v}` };
  }
  // Delete or duplicate a chunk inside the hot region, shifting everything after it.
  const [lo, hi] = base.hot;
  const p = lo + rng.int(hi - lo);
  const n = 1 + rng.int(16);
  if (rng.uniform() < 0.5) {
    const out = new Uint8Array(b.length - Math.min(n, b.length - p));
    out.set(b.subarray(0, p));
    out.set(b.subarray(p + n), p);
    return { bytes: out, how: `delete ${n} at ${p}` };
  }
  const out = new Uint8Array(b.length + n);
  out.set(b.subarray(0, p + n > b.length ? b.length : p + n));
  out.set(b.subarray(p), Math.min(p + n, b.length));
  return { bytes: out, how: `duplicate ${n} at ${p}` };
}

describe("fuzzing the checkpoint readers", () => {
  for (const [i, base] of BASES.entries()) {
    test(`${CASES_PER_BASE} mutations of ${base.name} each parse or raise FormatError`, { timeout: 15_000 }, () => {
      base.parse(base.bytes, base.name); // the unmutated file is valid
      const rng = new Rng(1234 + i);
      let rejected = 0;
      let slowest = 0;
      for (let c = 0; c < CASES_PER_BASE; c++) {
        const { bytes, how } = mutate(base, rng);
        const t0 = performance.now();
        try {
          base.parse(bytes, `${base.name}#${c}`);
        } catch (e) {
          if (!(e instanceof FormatError)) assert.fail(`case ${c} (${how}) threw ${(e as Error)?.name}: ${(e as Error)?.stack ?? String(e)}`);
          assert.ok(e.message.includes(`${base.name}#${c}`), `case ${c} (${how}): message should name the file: ${e.message}`);
          rejected++;
        }
        slowest = Math.max(slowest, performance.now() - t0);
      }
      assert.ok(slowest < 1000, `slowest case took ${slowest.toFixed(0)} ms`);
      assert.ok(rejected > CASES_PER_BASE / 4, `only ${rejected} of ${CASES_PER_BASE} mutations were rejected; the fuzzer is not biting`);
    });
  }

  test("the file-based safetensors reader agrees with the buffer reader on mutated files", () => {
    const rng = new Rng(99);
    for (let c = 0; c < 60; c++) {
      const { bytes, how } = mutate(BASES[1]!, rng);
      const p = path.join(tmp, `m${c}.safetensors`);
      fs.writeFileSync(p, bytes);
      const run = (f: () => unknown): string => {
        try { f(); return "ok"; } catch (e) {
          if (!(e instanceof FormatError)) assert.fail(`case ${c} (${how}) threw ${String(e)}`);
          return "FormatError";
        }
      };
      assert.equal(run(() => readSafetensors(p)), run(() => parseSafetensors(bytes, p)), `case ${c} (${how})`);
    }
  });
});
