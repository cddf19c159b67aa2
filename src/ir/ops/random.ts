/**
 * @file Seeded random masks in standard ONNX: integer ops (Range, Mod), a slice with a runtime start,
 * and the dropout / drop-path composites built from them. A mask is a pure function of a seed fed per
 * step, a per-site salt and the element's position, so a resumed run reproduces it exactly; ORT's own
 * Dropout keeps a hidden RNG state and cannot.
 */
import { ConfigError, ShapeError } from "../../errors.js";
import type { GraphBuilder } from "../builder.js";
import { numel } from "../dtype.js";
import { defineOp, type InferContext, type OutSpec } from "../op.js";
import { broadcastShapes, fmt } from "../shape.js";
import type { Value } from "../value.js";

const INTEGER = new Set(["int64", "int32", "uint8"]);

function scalarConst(ctx: InferContext, i: number, what: string): number {
  const v = ctx.x[i];
  if (!v || v.rank > 1 || numel(v.shape) !== 1) ctx.fail(`${what} must be a scalar`);
  if (!v!.constValue) ctx.fail(`${what} must be a constant`);
  return v!.constValue![0]!;
}

export const random = {
  // Integer sequence [start, limit) by delta; integer output, so no gradient.
  Range: defineOp("Range", {
    infer: (ctx): OutSpec[] => {
      const [start, limit, delta] = [0, 1, 2].map((i) => scalarConst(ctx, i, ["start", "limit", "delta"][i]!));
      if (delta === 0) ctx.fail("delta 0");
      if (!INTEGER.has(ctx.x[0]!.dtype)) ctx.fail(`needs an integer start, got ${ctx.x[0]!.dtype}`);
      return [{ shape: [Math.max(0, Math.ceil((limit! - start!) / delta!))], dtype: ctx.x[0]!.dtype }];
    },
    vjp: "none",
  }),
  // Integer remainder only (hashing); a float Mod would need a real rule, so it is refused here.
  Mod: defineOp("Mod", {
    infer: ({ x: [a, b], fail }): OutSpec[] => {
      if (a!.dtype !== b!.dtype) fail(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`);
      if (!INTEGER.has(a!.dtype)) fail(`only integer Mod is supported, got ${a!.dtype}`);
      const shape = broadcastShapes(a!.shape, b!.shape);
      if (!shape) fail(`shapes ${fmt(a!.shape)} and ${fmt(b!.shape)} do not broadcast`);
      return [{ shape: shape!, dtype: a!.dtype }];
    },
    vjp: "none",
  }),
  // SliceAt(data, starts[1], ends[1], length): ONNX Slice of axis 0 whose start is only known at run
  // time; the static length (input 3, a constant ONNX never sees) fixes the shape. Callers keep
  // ends = starts + length inside the data. A gradient would need run-time pads, so it has none and
  // refuses to be differentiated (a random bank never is).
  SliceAt: defineOp("SliceAt", {
    onnx: "Slice",
    onnxInputs: 3,
    infer: (ctx): OutSpec[] => {
      const [data, starts, ends] = ctx.x;
      const n = scalarConst(ctx, 3, "length");
      if (data!.rank < 1) ctx.fail("needs data of rank >= 1");
      for (const v of [starts!, ends!]) if (v.dtype !== "int64" || v.rank !== 1 || v.shape[0] !== 1) ctx.fail("starts and ends must be int64 of shape [1]");
      if (!(Number.isInteger(n) && n >= 0 && n <= data!.shape[0]!)) ctx.fail(`length ${n} outside [0, ${data!.shape[0]}]`);
      return [{ shape: [n, ...data!.shape.slice(1)], dtype: data!.dtype }];
    },
    vjp: "never",
  }),
};

// ---- composites ---------------------------------------------------------------------------------

const TWO31 = 2 ** 31;
// Constants below 2^31: every product of two 31-bit values stays under 2^62 (no int64 overflow).
const K0 = 0x2c1b3c6dn, K1 = 0x297a2d39n, K2 = 0x3b9f4f6bn, K3 = 0x1ed3a0a9n;

/** 32-bit FNV-1a of a string: a stable per-site salt (from value names, never from build order). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Uniform 31-bit hashes, one per element of `shape`, as int64 values in [0, 2^31).
 * Widynski's counter-based "Squares" generator cut down to 31-bit words: a key hashed from
 * (seed, salt), then five rounds of x = middle bits of (x² + weyl) over the Weyl sequence pos·key.
 * Opset 17 has no int64 xor or shifts, and squaring gives the non-linearity that add/multiply alone
 * lack. Every intermediate stays below 2^63, so ORT computes the same bits on every machine.
 */
export function hashBits(g: GraphBuilder, seed: Value, shape: readonly number[], salt: number): Value {
  if (seed.dtype !== "int64" || numel(seed.shape) !== 1) {
    throw new ShapeError(`random mask: seed must be one int64 value, got ${seed.toString()}`);
  }
  const i64 = (v: number | bigint) => g.scalar(Number(v), "int64");
  const m31 = (v: Value) => g.Mod(v, i64(TWO31));
  // one round: the middle 31 bits of x² + w
  const sq = (x: Value, w: Value) => m31(g.Div(g.Add(g.Mul(x, x), w), i64(2 ** 16)));
  const s0 = seed.rank === 0 ? seed : g.Reshape(seed, []);
  // The salt term is a build-time constant; Mod of a negative seed is non-negative (divisor's sign).
  const saltTerm = ((BigInt(salt >>> 0) % 2n ** 31n) * K3 + K0) % 2n ** 31n;
  const k0 = m31(g.Add(g.Mul(m31(s0), i64(K1)), i64(saltTerm)));
  // An odd key with well-mixed bits: small or structured keys make the Weyl sequence weak.
  const key = m31(g.Add(g.Mul(sq(sq(sq(k0, i64(K2)), i64(K0)), i64(K3)), i64(2)), i64(1)));
  if (numel(shape) > TWO31) throw new ShapeError(`random mask: ${fmt(shape)} has more than 2^31 elements`);
  const pos = g.Range(0, numel(shape), 1);
  const y = m31(g.Mul(pos, key));
  const z = m31(g.Add(y, key));
  let x = sq(y, y);
  for (const w of [z, y, z, y]) x = sq(x, w);
  return shape.length === 1 ? x : g.Reshape(x, shape);
}

// ---- uniform bank ------------------------------------------------------------------------------

/** Fewest distinct windows a bank offers any mask: two sites collide on one step with odds ~ sites² / 2R. */
const MIN_OFFSETS = 2 ** 16;
const banks = new WeakMap<GraphBuilder, Map<number, Value>>();

/**
 * `size` uniform floats in [0, 1) on a 2^-24 grid (exact in float32) from a fixed-seed SplitMix32,
 * so every graph that asks for one size gets the same bank.
 */
export function bankValues(size: number): Float32Array {
  const out = new Float32Array(size);
  let s = 0x9e3779b9 ^ size;
  for (let i = 0; i < size; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    out[i] = (z >>> 8) / 2 ** 24;
  }
  return out;
}

/** The bank shared by every mask of n elements in this graph: a power of two with >= MIN_OFFSETS spare. */
function bankFor(g: GraphBuilder, n: number): Value {
  let size = 2 ** Math.ceil(Math.log2(n + MIN_OFFSETS));
  if (size > TWO31) throw new ShapeError(`random mask: ${n} elements need a bank over 2^31`);
  let byGraph = banks.get(g);
  if (!byGraph) banks.set(g, (byGraph = new Map()));
  let bank = byGraph.get(size);
  if (!bank) {
    const s = size;
    bank = g.initializer(`random/bank_${size}`, [size], () => bankValues(s));
    byGraph.set(size, bank);
  }
  return bank;
}

/**
 * n uniform floats in [0, 1): a window of a fixed bank at an offset hashed in-graph from (seed, salt).
 * Costs one copy instead of a per-element hash; masks of one size share windows of one bank, so
 * two sites see shifted copies of one stream (independent element by element, as dropout needs).
 */
export function uniformWindow(g: GraphBuilder, seed: Value, n: number, salt: number): Value {
  const bank = bankFor(g, n);
  const offsets = bank.shape[0]! - n + 1;
  const start = g.Mod(hashBits(g, seed, [1], salt), g.scalar(offsets, "int64"));
  const end = g.Add(start, g.scalar(n, "int64"));
  return g.op("SliceAt", [bank, start, end, g.scalar(n, "int64")])[0]!;
}

/** A keep-mask scaled by 1/(1-p): 0 with probability p, 1/(1-p) otherwise, in `dtype`. */
export function keepMask(g: GraphBuilder, seed: Value, shape: readonly number[], p: number, salt: number, dtype: Value["dtype"]): Value {
  const u = uniformWindow(g, seed, numel(shape), salt);
  const keep = g.GreaterOrEqual(shape.length === 1 ? u : g.Reshape(u, shape), g.scalar(p, "float32"));
  // Cast then Mul measures faster in ORT than a Where on broadcast scalars.
  return g.Mul(g.Cast(keep, dtype), g.scalar(1 / (1 - p), dtype));
}

function checkP(what: string, p: number): void {
  if (!(p >= 0 && p < 1)) throw new ConfigError(`${what}: drop probability must be in [0, 1), got ${p}`);
}

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
 * The mask hashes (seed, salt, element index); salt defaults to a hash of x's name, so two dropout
 * sites fed the same seed draw different masks. p = 0 returns x itself.
 */
export function dropout(g: GraphBuilder, x: Value, p: number, seed: Value, salt = fnv1a(x.name)): Value {
  checkP(`dropout on "${x.name}"`, p);
  if (p === 0) return x;
  return g.Mul(x, keepMask(g, seed, x.shape, p, salt, x.dtype));
}

/**
 * Stochastic depth (timm's DropPath): drops a whole sample (axis 0) with probability p and scales
 * kept samples by 1/(1-p).
 */
export function dropPath(g: GraphBuilder, x: Value, p: number, seed: Value, salt = fnv1a(x.name)): Value {
  checkP(`dropPath on "${x.name}"`, p);
  if (p === 0) return x;
  if (x.rank < 1) throw new ShapeError(`dropPath on "${x.name}": needs a batch axis, got shape ${fmt(x.shape)}`);
  const shape = x.shape.map((d, i) => (i === 0 ? d : 1));
  return g.Mul(x, keepMask(g, seed, shape, p, salt, x.dtype));
}
