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
  // SliceAt(data, starts[1], ends[1], axes[1], steps[1], length): ONNX Slice of axis 0 whose start is
  // only known at run time, forwards (step 1) or backwards (step -1); the static length (input 5, a
  // constant ONNX never sees) fixes the shape. Callers keep the read inside the data (a backward read
  // must end at index >= 0: ONNX reads a negative end from the back). A gradient would need run-time
  // pads, so it has none and refuses to be differentiated (a random bank never is).
  SliceAt: defineOp("SliceAt", {
    onnx: "Slice",
    onnxInputs: 5,
    infer: (ctx): OutSpec[] => {
      const [data, starts, ends, axes, steps] = ctx.x;
      const n = scalarConst(ctx, 5, "length");
      if (data!.rank < 1) ctx.fail("needs data of rank >= 1");
      for (const v of [starts!, ends!, axes!, steps!]) if (v.dtype !== "int64" || v.rank !== 1 || v.shape[0] !== 1) ctx.fail("starts, ends, axes and steps must be int64 of shape [1]");
      if (axes!.constValue?.[0] !== 0) ctx.fail("axes must be the constant [0]");
      const step = steps!.constValue?.[0];
      if (step !== 1 && step !== -1) ctx.fail("steps must be the constant [1] or [-1]");
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

/**
 * How a mask's uniforms are drawn, for run records: the sum mod 1 of a forward and a backward window
 * of one fixed bank, at two offsets hashed from (seed, salt). Masks used to be single forward windows,
 * so two sites, or one site at two steps, got shifted copies of one stream and a site had only 2^16
 * distinct masks.
 */
export const RANDOM_MASK_DRAW = "bank-forward-plus-backward-window";

/** Fewest distinct offsets each read of a bank offers any mask. */
const MIN_OFFSETS = 2 ** 16;
const banks = new WeakMap<GraphBuilder, Map<number, Value>>();
/** Bank values lie on this grid, so a sum of two is exact in float32 (below 2: 24 significant bits). */
const GRID = 2 ** 23;

/**
 * `size` uniform floats in [0, 1) on a 2^-23 grid from a fixed-seed SplitMix32, so every graph that
 * asks for one size gets the same bank.
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
    out[i] = (z >>> 9) / GRID;
  }
  return out;
}

/** The bank shared by every mask of n elements in this graph: a power of two with > MIN_OFFSETS spare. */
function bankFor(g: GraphBuilder, n: number): Value {
  const size = 2 ** Math.ceil(Math.log2(n + MIN_OFFSETS + 1));
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

/** n entries of `bank` from a run-time `start` (int64 [1]), forwards or backwards. */
function readAt(g: GraphBuilder, bank: Value, start: Value, n: number, step: 1 | -1): Value {
  const end = g.Add(start, g.scalar(step * n, "int64"));
  return g.op("SliceAt", [bank, start, end, g.ints([0]), g.ints([step]), g.scalar(n, "int64")])[0]!;
}

/**
 * n uniform floats in [0, 1) on a 2^-23 grid: u_i = frac(bank[o + i] + bank[e - i]), a forward and a
 * backward window of the bank at offsets hashed in-graph from (seed, salt). Two copies instead of a
 * per-element hash (hashBits costs ~25x more). Why this is as good as independent draws:
 * - the sum mod 1 of two independent uniforms on the grid is uniform on it and independent of each
 *   one alone; within a mask, u_i and u_j share a bank entry only as a matched pair (o + i = e - j),
 *   so the mask's entries are independent;
 * - two masks are shifted copies of each other only when their o + e agree (odds 1 / 2^16 or less
 *   per pair; with forward windows alone every pair was); otherwise a mask shares bank entries with
 *   another only in mirrored order, and element i of both reads four different entries.
 */
export function uniforms(g: GraphBuilder, seed: Value, n: number, salt: number): Value {
  const bank = bankFor(g, n);
  const spare = bank.shape[0]! - n; // > MIN_OFFSETS
  const [h0, h1] = g.Split(hashBits(g, seed, [2], salt), [1, 1], 0) as [Value, Value];
  // forward start in [0, spare]; the backward read runs from e down to e - n + 1 >= 1 (end index >= 0)
  const fwd = readAt(g, bank, g.Mod(h0, g.scalar(spare + 1, "int64")), n, 1);
  const back = readAt(g, bank, g.Add(g.Mod(h1, g.scalar(spare, "int64")), g.scalar(n, "int64")), n, -1);
  const sum = g.Add(fwd, back); // exact: both on the 2^-23 grid, sum < 2
  return g.Sub(sum, g.Cast(g.GreaterOrEqual(sum, g.scalar(1, "float32")), "float32"));
}

/** A keep-mask scaled by 1/(1-p): 0 with probability p, 1/(1-p) otherwise, in `dtype`. */
export function keepMask(g: GraphBuilder, seed: Value, shape: readonly number[], p: number, salt: number, dtype: Value["dtype"]): Value {
  const u = uniforms(g, seed, numel(shape), salt);
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
