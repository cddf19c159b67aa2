/**
 * @file Seeded random masks in standard ONNX: integer ops (Range, Mod), a slice with a runtime start,
 * and the dropout / drop-path composites, built from an int32 hash and Gathers of a fixed bank (ops
 * onnxruntime's CPU and WebGPU providers both run, to the same bits). A mask is a pure function of a seed fed per
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

/** The hash's modulus: a prime below 2^15, so a product of two residues stays below 2^30 in int32. */
export const HASH_P = 32749;
const TWO15 = 2 ** 15;
/**
 * Round constants (multiplier and offset per lane, each below HASH_P): three absorb rounds, then the
 * output rounds. Any odd-looking residues do; these are fixed so a seed draws the same mask everywhere.
 */
const ROUNDS = [
  { a: [1103, 2683], c: [7919, 12011] },
  { a: [5417, 19997], c: [20021, 3571] },
  { a: [27361, 9029], c: [15013, 29989] },
] as const;
const OUT = { a: [22307, 6949], c: [31337, 17393], c2: [4099, 26407] } as const;

/** 32-bit FNV-1a of a string: a stable per-site salt (from value names, never from build order). */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const int32Seeds = new WeakMap<GraphBuilder, Map<Value, Value>>();

/**
 * The seed as int32 in [0, 2^31): its low 31 bits. The trainer's `*_seed` inputs are int32 (peft/seeds.ts),
 * so a step graph has no int64 node here (WebGPU has no int64 arithmetic; ORT ran the Cast on CPU). An
 * int64 seed is still accepted: it is cast once per graph to int32 (its low 32 bits, what the int32
 * feeds hold) in a node named "<seed>/as_int32".
 */
function seedLow31(g: GraphBuilder, seed: Value): Value {
  let byGraph = int32Seeds.get(g);
  if (!byGraph) int32Seeds.set(g, (byGraph = new Map()));
  let v = byGraph.get(seed);
  if (!v) {
    const s0 = seed.rank === 0 ? seed : g.Reshape(seed, []);
    const s32 = seed.dtype === "int32" ? s0 : g.withScope(seed.name, () => g.op("Cast", [s0], { to: "int32" }, "as_int32")[0]!);
    // v mod 2^31 for a negative int32 v is v + 2^31, written so that no intermediate leaves int32.
    const i32 = (k: number) => g.scalar(k, "int32");
    v = g.Where(g.Less(s32, i32(0)), g.Add(g.Add(s32, i32(2 ** 31 - 1)), i32(1)), s32);
    byGraph.set(seed, v);
  }
  return v;
}

/**
 * Uniform hashes in [0, HASH_P²) (about 2^30), one per element of `shape`, as int32 values.
 * Int32 arithmetic only (Add, Mul, Div, Sub, Where: what both ORT's CPU and WebGPU providers run),
 * and every intermediate stays below 2^31, so both compute the same bits. Two lanes of residues mod
 * the prime HASH_P absorb the salt's and the seed's 15-bit words, each round x = (x·a + w + Σlanes)²
 * + c mod P; an output element j is the two lanes of two more such rounds over j, as one number
 * lane0·P + lane1. Opset 17 has no xor or shifts, and squaring gives the non-linearity that
 * add/multiply alone lack.
 */
export function hashBits(g: GraphBuilder, seed: Value, shape: readonly number[], salt: number): Value {
  if ((seed.dtype !== "int64" && seed.dtype !== "int32") || numel(seed.shape) !== 1) {
    throw new ShapeError(`random mask: seed must be one int64 or int32 value, got ${seed.toString()}`);
  }
  const n = numel(shape);
  if (n >= 2 ** 30) throw new ShapeError(`random mask: ${fmt(shape)} has 2^30 elements or more`);
  const i32 = (k: number) => g.scalar(k, "int32");
  const vec = (k: readonly number[]) => g.constant(k, [2], "int32");
  // x mod P for 0 <= x < 2^31 (integer Div truncates, which is floor here)
  const modP = (x: Value) => g.Sub(x, g.Mul(g.Div(x, i32(HASH_P)), i32(HASH_P)));
  const round = (x: Value, w: Value, a: readonly number[], c: readonly number[]) => {
    const t = modP(g.Add(g.Mul(x, vec(a)), g.Add(w, g.ReduceSum(x, [x.rank - 1], 1)))); // < 2^30 + 2^17
    return modP(g.Add(g.Mul(t, t), vec(c)));
  };
  const s = seedLow31(g, seed);
  const hi = g.Div(s, i32(TWO15));
  const words = [
    i32((salt >>> 0) % TWO15), i32(Math.floor((salt >>> 0) / TWO15) % TWO15), i32(Math.floor((salt >>> 0) / 2 ** 30)),
    g.Sub(s, g.Mul(hi, i32(TWO15))), g.Sub(hi, g.Mul(g.Div(hi, i32(TWO15)), i32(TWO15))), g.Div(hi, i32(TWO15)),
  ];
  let x = vec([1, 2]);
  words.forEach((w, i) => (x = round(x, w, ROUNDS[i % 3]!.a, ROUNDS[i % 3]!.c)));
  // Output rounds over j = 1..n, both lanes per element: [n, 2].
  const j = g.Reshape(g.Range(1, n + 1, 1, "int32"), [n, 1]);
  const z1 = modP(g.Add(g.Mul(g.Reshape(x, [1, 2]), vec(OUT.a)), g.Add(j, g.ReduceSum(x, [0], 1))));
  const z2 = modP(g.Add(g.Mul(z1, z1), vec(OUT.c)));
  const z3 = round(z2, g.scalar(0, "int32"), OUT.a, OUT.c2);
  const h = g.ReduceSum(g.Mul(z3, vec([HASH_P, 1])), [1], 0); // lane0·P + lane1 < P² < 2^30
  return shape.length === 1 ? h : g.Reshape(h, shape);
}

// ---- uniform bank ------------------------------------------------------------------------------

/**
 * How a mask's uniforms are drawn, for run records: the sum mod 1 of two forward windows of one fixed
 * bank, at two whole-row offsets hashed (int32 arithmetic, on WebGPU too) from (seed, salt). Masks used
 * to be single forward windows, so two sites, or one site at two steps, got shifted copies of one
 * stream and a site had only 2^16 distinct masks; then a forward plus a backward window
 * ("bank-forward-plus-backward-window", int64 hash), whose large masks repeated up to half their
 * entries (see uniforms).
 */
export const RANDOM_MASK_DRAW = "bank-two-forward-windows/int32-hash";

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

/**
 * How a mask of n entries reads the bank: as rows of `width` entries (a power of two), `rows` of them
 * per window (rows · width >= n). Offsets are whole rows, so a window is a Gather of `rows` row indices
 * computed on the device; width ~ sqrt(n / MIN_OFFSETS) balances that index (4·n/width bytes) against
 * the bank's spare (width · MIN_OFFSETS entries). A Slice at a run-time start would need its start in
 * host memory, a GPU-to-host copy per read under WebGPU.
 */
function windowGrid(n: number): { width: number; rows: number } {
  const width = 2 ** Math.max(0, Math.round(Math.log2(Math.sqrt(n / MIN_OFFSETS))));
  return { width, rows: Math.ceil(n / width) };
}

/**
 * The bank shared by every mask of n elements in this graph: a power of two with more than
 * MIN_OFFSETS whole-row window starts (see windowGrid).
 */
function bankFor(g: GraphBuilder, n: number): Value {
  const { width, rows } = windowGrid(n);
  const size = 2 ** Math.ceil(Math.log2(width * (rows + MIN_OFFSETS)));
  // Row indices are int32: a bank of 2^30 keeps them (and the hash's remainders) well inside.
  if (size > 2 ** 30) throw new ShapeError(`random mask: ${n} elements need a bank over 2^30`);
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

/** n entries of `bank` forwards from row `first` (int32 [1]): bank[first · width + i], one Gather of rows. */
function readRows(g: GraphBuilder, bank: Value, first: Value, n: number): Value {
  const { width, rows } = windowGrid(n);
  const grid = g.Reshape(bank, [bank.shape[0]! / width, width]);
  const w = g.Gather(grid, g.Add(first, g.constant(Array.from({ length: rows }, (_, i) => i), [rows], "int32")), 0);
  const flat = g.Reshape(w, [rows * width]);
  return rows * width === n ? flat : g.Slice(flat, [0], [n], [0]);
}

/** x mod m for int32 0 <= x < 2^31 and a constant 0 < m < 2^31 (int32 Mod has no WebGPU kernel). */
function modInt32(g: GraphBuilder, x: Value, m: number): Value {
  const k = g.scalar(m, "int32");
  return g.Sub(x, g.Mul(g.Div(x, k), k));
}

/**
 * n uniform floats in [0, 1) on a 2^-23 grid: u_i = frac(bank[o + i] + bank[e + i]), two forward
 * windows of the bank at whole-row offsets o != e (mostly) hashed in-graph from (seed, salt). Two
 * copies instead of a per-element hash (hashBits costs ~25x more). Why this is as good as independent
 * draws:
 * - the sum mod 1 of two independent uniforms on the grid is uniform on it and independent of each
 *   one alone; within a mask, u_i and u_j share at most one bank entry (o + i = e + j), never both,
 *   so its entries are independent. (A forward plus a backward window, bank[e - i], the draw before
 *   this one, shares both entries of a matched pair o + i = e - j: u_i = u_j exactly, for up to half
 *   of a large mask's entries.)
 * - two masks share both entries of some element pair only when their offsets are shifted copies
 *   (o' - o = e' - e: the masks are then shifted copies) or swapped (o' - e = e' - o); each has odds
 *   1 / 2^16 or less per pair of masks.
 */
export function uniforms(g: GraphBuilder, seed: Value, n: number, salt: number): Value {
  const bank = bankFor(g, n);
  const { width, rows } = windowGrid(n);
  const starts = bank.shape[0]! / width - rows + 1; // > MIN_OFFSETS
  const [h0, h1] = g.Split(hashBits(g, seed, [2], salt), [1, 1], 0) as [Value, Value];
  const sum = g.Add(readRows(g, bank, modInt32(g, h0, starts), n), readRows(g, bank, modInt32(g, h1, starts), n)); // exact: both on the 2^-23 grid, sum < 2
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
