/** @file GraphBuilder: writes ONNX graphs like model code, inferring shapes as it goes. */
import { ConfigError, ShapeError, unknownName } from "../errors.js";
import { fromNumbers, numel, type DType, type TypedArray } from "./dtype.js";
import { CUSTOM_RULES, type CustomRule } from "./op.js";
import { convAttrs, type ConvAttrs } from "./ops/conv.js";
import { OPS } from "./ops/index.js";
import { dropout, dropPath } from "./ops/random.js";
import { fmt } from "./shape.js";
import { Node, Value, type Attrs, type TensorSource } from "./value.js";

/**
 * Builds one static-shape ONNX graph.
 *
 * @example
 * const g = new GraphBuilder();
 * const x = g.input("x", [8, 16]);
 * const w = g.initializer("fc.weight", [16, 4], new Float32Array(64));
 * g.output(g.Relu(g.MatMul(x, w)), "y");
 */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly initializers: Value[] = [];
  readonly outputs: Value[] = [];
  private nextId = 0;
  private readonly names = new Set<string>();
  private readonly scopes: string[] = [];
  private readonly constCache = new Map<string, Value>();
  /** Values autodiff recomputes for the backward instead of keeping alive (see autodiff/remat.ts). */
  readonly recomputed = new Set<Value>();
  /**
   * Frozen initializers the writer keeps inside the model even with weights: "inputs" (onnx/writer.ts):
   * ORT picks its fast kernels (depthwise Conv: 2-40x, bench/depthwise.ts) and folds constants only for weights it sees.
   */
  readonly inGraph = new Set<Value>();

  constructor(readonly name = "snell") {}

  // ---- leaves -------------------------------------------------------------------------------

  /** A graph input fed at run time. */
  input(name: string, shape: readonly number[], dtype: DType = "float32"): Value {
    this.checkShape(name, shape);
    const v = new Value(this.nextId++, this.claim(name, true), shape, dtype, "input");
    this.inputs.push(v);
    return v;
  }

  /** A named tensor stored in the graph (frozen weight or constant); `source` may be lazy. */
  initializer(name: string, shape: readonly number[], source: TensorSource, dtype: DType = "float32"): Value {
    this.checkShape(name, shape);
    if (typeof source !== "function" && source.length !== numel(shape)) {
      throw new ShapeError(`initializer "${name}": ${source.length} values for shape ${fmt(shape)} (${numel(shape)})`);
    }
    const small = typeof source !== "function" && source.length <= 64 && dtype === "int64";
    const constValue = small ? Array.from(source as BigInt64Array, Number) : null;
    const v = new Value(this.nextId++, this.claim(name, true), shape, dtype, "initializer", null, source, constValue);
    this.initializers.push(v);
    return v;
  }

  /** A small constant; identical constants are shared. */
  constant(values: readonly number[] | TypedArray, shape: readonly number[] = [values.length], dtype: DType = "float32"): Value {
    const key = `${dtype}|${shape.join(",")}|${Array.from(values as ArrayLike<number | bigint>).join(",")}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const data = ArrayBuffer.isView(values) ? (values as TypedArray) : fromNumbers(dtype, values as readonly number[]);
    const v = this.initializer(this.uniqueName(`const/${dtype}`), shape, data, dtype);
    const cv = new Value(v.id, v.name, v.shape, v.dtype, v.kind, null, v.source,
      numel(shape) <= 64 ? Array.from(data as ArrayLike<number | bigint>, Number) : null);
    this.initializers[this.initializers.length - 1] = cv;
    this.constCache.set(key, cv);
    return cv;
  }

  /** A rank-0 constant. */
  scalar(value: number, dtype: DType = "float32"): Value {
    return this.constant([value], [], dtype);
  }

  /** An int64 vector constant (shapes, axes, indices). */
  ints(values: readonly number[]): Value {
    return this.constant(values, [values.length], "int64");
  }

  /** Marks a value as a graph output; renames it when `name` is given. */
  output(value: Value, name?: string): Value {
    if (name !== undefined && name !== value.name) {
      if (value.kind !== "node") value = this.Identity(value);
      this.rename(value, name);
    }
    if (!this.outputs.includes(value)) this.outputs.push(value);
    return value;
  }

  /** Gives a node output a readable, unique name (e.g. "<param>_grad"). */
  rename(value: Value, name: string): void {
    if (value.kind !== "node") throw new ConfigError(`cannot rename ${value.kind} "${value.name}"`);
    // A single-output node's value shares the node's name; keep that name claimed for the node,
    // or a later node could take it and ORT rejects two nodes of one name.
    if (value.producer?.name !== value.name) this.names.delete(value.name);
    value.name = this.claim(name, true);
  }

  // ---- naming ---------------------------------------------------------------------------------

  /** Runs `fn` with node names prefixed by `name/` (e.g. "blocks.3.attn"). */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** Runs `fn` under an absolute scope (gradient rules go under "<node>_grad"). */
  withScope<T>(absolute: string, fn: () => T): T {
    const saved = this.scopes.splice(0);
    this.scopes.push(absolute);
    try {
      return fn();
    } finally {
      this.scopes.splice(0, this.scopes.length, ...saved);
    }
  }

  /** Current scope prefix, "" at top level. */
  get prefix(): string {
    return this.scopes.length ? this.scopes.join("/") + "/" : "";
  }

  private uniqueName(base: string): string {
    if (!this.names.has(base)) return base;
    let i = 1;
    while (this.names.has(`${base}_${i}`)) i++;
    return `${base}_${i}`;
  }

  private claim(name: string, exact: boolean): string {
    if (exact && this.names.has(name)) throw new ConfigError(`duplicate value name "${name}"`);
    const n = exact ? name : this.uniqueName(name);
    this.names.add(n);
    return n;
  }

  private checkShape(name: string, shape: readonly number[]): void {
    if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new ShapeError(`"${name}": shape ${fmt(shape)} must be non-negative integers`);
    }
  }

  // ---- generic node creation ------------------------------------------------------------------

  /** Adds a node of a registered op and returns its outputs (shapes inferred). */
  op(type: string, inputs: readonly (Value | null)[], attrs: Attrs = {}, name?: string): Value[] {
    const def = (OPS as Record<string, (typeof OPS)[keyof typeof OPS]>)[type];
    if (!def) throw unknownName("op", type, Object.keys(OPS));
    const nodeName = this.claim(`${this.prefix}${name ?? type}`, false);
    const fail = (message: string): never => {
      const shapes = inputs.map((v) => (v ? fmt(v.shape) + ":" + v.dtype : "-")).join(", ");
      throw new ShapeError(`${type} node "${nodeName}": ${message} (inputs ${shapes})`);
    };
    const specs = def.infer({ x: inputs, attrs, fail });
    const node = new Node(this.nextId++, nodeName, type, inputs, attrs);
    specs.forEach((s, i) => {
      const vname = specs.length === 1 ? nodeName : this.claim(`${nodeName}:${i}`, false);
      node.outputs.push(new Value(this.nextId++, vname, s.shape, s.dtype, "node", node, null, s.constValue ?? null));
    });
    this.nodes.push(node);
    return node.outputs;
  }

  private one(type: string, inputs: readonly (Value | null)[], attrs: Attrs = {}): Value {
    return this.op(type, inputs, attrs)[0]!;
  }

  // ---- ONNX ops (spec names and attribute spellings) -------------------------------------------

  Add(a: Value, b: Value): Value { return this.one("Add", [a, b]); }
  Sub(a: Value, b: Value): Value { return this.one("Sub", [a, b]); }
  Mul(a: Value, b: Value): Value { return this.one("Mul", [a, b]); }
  Div(a: Value, b: Value): Value { return this.one("Div", [a, b]); }
  Pow(a: Value, b: Value): Value { return this.one("Pow", [a, b]); }
  Max(a: Value, b: Value): Value { return this.one("Max", [a, b]); }
  Min(a: Value, b: Value): Value { return this.one("Min", [a, b]); }
  Neg(x: Value): Value { return this.one("Neg", [x]); }
  Abs(x: Value): Value { return this.one("Abs", [x]); }
  Sqrt(x: Value): Value { return this.one("Sqrt", [x]); }
  Exp(x: Value): Value { return this.one("Exp", [x]); }
  Log(x: Value): Value { return this.one("Log", [x]); }
  Tanh(x: Value): Value { return this.one("Tanh", [x]); }
  Sigmoid(x: Value): Value { return this.one("Sigmoid", [x]); }
  Erf(x: Value): Value { return this.one("Erf", [x]); }
  Relu(x: Value): Value { return this.one("Relu", [x]); }
  Sign(x: Value): Value { return this.one("Sign", [x]); }
  Reciprocal(x: Value): Value { return this.one("Reciprocal", [x]); }
  Identity(x: Value): Value { return this.one("Identity", [x]); }
  Cast(x: Value, to: DType): Value { return this.one("Cast", [x], { to }); }
  Where(cond: Value, a: Value, b: Value): Value { return this.one("Where", [cond, a, b]); }
  Equal(a: Value, b: Value): Value { return this.one("Equal", [a, b]); }
  Less(a: Value, b: Value): Value { return this.one("Less", [a, b]); }
  Greater(a: Value, b: Value): Value { return this.one("Greater", [a, b]); }
  GreaterOrEqual(a: Value, b: Value): Value { return this.one("GreaterOrEqual", [a, b]); }
  LessOrEqual(a: Value, b: Value): Value { return this.one("LessOrEqual", [a, b]); }
  Not(x: Value): Value { return this.one("Not", [x]); }
  And(a: Value, b: Value): Value { return this.one("And", [a, b]); }
  Or(a: Value, b: Value): Value { return this.one("Or", [a, b]); }

  MatMul(a: Value, b: Value): Value { return this.one("MatMul", [a, b]); }
  Gemm(a: Value, b: Value, c: Value | null, attrs: { alpha?: number; beta?: number; transA?: number; transB?: number } = {}): Value {
    return this.one("Gemm", c ? [a, b, c] : [a, b], attrs);
  }

  /** int32 (A - a_zp) @ (B - b_zp); A uint8/int8 of rank >= 2, B int8/uint8 [K, N]. */
  MatMulInteger(a: Value, b: Value, aZeroPoint: Value | null = null, bZeroPoint: Value | null = null): Value {
    return this.one("MatMulInteger", bZeroPoint ? [a, b, aZeroPoint, bZeroPoint] : aZeroPoint ? [a, b, aZeroPoint] : [a, b]);
  }
  /** saturate(round(x / scale) + zp); a 1-D scale and zp quantize along `axis`. */
  QuantizeLinear(x: Value, scale: Value, zeroPoint: Value, axis = 1): Value {
    return this.one("QuantizeLinear", [x, scale, zeroPoint], scale.rank === 1 ? { axis } : {});
  }
  /** [y uint8, scale, zero point]: one scale for the whole tensor. */
  DynamicQuantizeLinear(x: Value): [Value, Value, Value] {
    const [y, s, z] = this.op("DynamicQuantizeLinear", [x]);
    return [y!, s!, z!];
  }
  Round(x: Value): Value { return this.one("Round", [x]); }

  ReduceSum(x: Value, axes: readonly number[], keepdims = 1): Value {
    return this.one("ReduceSum", [x, this.ints(axes)], { keepdims });
  }
  ReduceMean(x: Value, axes: readonly number[], keepdims = 1): Value { return this.one("ReduceMean", [x], { axes, keepdims }); }
  ReduceMax(x: Value, axes: readonly number[], keepdims = 1): Value { return this.one("ReduceMax", [x], { axes, keepdims }); }
  ReduceMin(x: Value, axes: readonly number[], keepdims = 1): Value { return this.one("ReduceMin", [x], { axes, keepdims }); }
  ArgMax(x: Value, axis: number, keepdims = 1): Value { return this.one("ArgMax", [x], { axis, keepdims }); }

  Reshape(x: Value, shape: readonly number[]): Value { return this.one("Reshape", [x, this.ints(shape)]); }
  Transpose(x: Value, perm: readonly number[]): Value { return this.one("Transpose", [x], { perm }); }
  Concat(xs: readonly Value[], axis: number): Value { return this.one("Concat", xs, { axis }); }
  Slice(x: Value, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): Value {
    const ins = [x, this.ints(starts), this.ints(ends), this.ints(axes)];
    return this.one("Slice", steps ? [...ins, this.ints(steps)] : ins);
  }
  Split(x: Value, split: readonly number[], axis: number): Value[] {
    return this.op("Split", [x, this.ints(split)], { axis });
  }
  Gather(x: Value, indices: Value, axis = 0): Value { return this.one("Gather", [x, indices], { axis }); }
  Expand(x: Value, shape: readonly number[]): Value { return this.one("Expand", [x, this.ints(shape)]); }
  Unsqueeze(x: Value, axes: readonly number[]): Value { return this.one("Unsqueeze", [x, this.ints(axes)]); }
  Squeeze(x: Value, axes: readonly number[]): Value { return this.one("Squeeze", [x, this.ints(axes)]); }
  TopK(x: Value, k: number, attrs: { axis?: number; largest?: number; sorted?: number } = {}): [Value, Value] {
    const [v, i] = this.op("TopK", [x, this.ints([k])], attrs);
    return [v!, i!];
  }
  OneHot(indices: Value, depth: number, values: Value, axis = -1): Value {
    return this.one("OneHot", [indices, this.constant([depth], [1], "int64"), values], { axis });
  }
  ScatterElements(data: Value, indices: Value, updates: Value, axis = 0, reduction = "none"): Value {
    return this.one("ScatterElements", [data, indices, updates], { axis, reduction });
  }

  Softmax(x: Value, axis = -1): Value { return this.one("Softmax", [x], { axis }); }
  LogSoftmax(x: Value, axis = -1): Value { return this.one("LogSoftmax", [x], { axis }); }
  LayerNormalization(x: Value, scale: Value, bias: Value | null, attrs: { axis?: number; epsilon?: number } = {}): Value {
    return this.op("LayerNormalization", bias ? [x, scale, bias] : [x, scale], { axis: -1, epsilon: 1e-5, ...attrs })[0]!;
  }
  /** Writes every attribute (kernel_shape, strides, pads, dilations, group) explicitly, ONNX's defaults filled in. */
  Conv(x: Value, w: Value, b: Value | null, attrs: { [K in keyof ConvAttrs]?: K extends "group" ? number : readonly number[] } = {}): Value {
    return this.one("Conv", b ? [x, w, b] : [x, w], { ...convAttrs(w, attrs) });
  }

  // ---- composites (camelCase) -----------------------------------------------------------------

  /** Blocks the gradient: the value is used as a constant by autodiff. */
  stopGradient(x: Value): Value { return this.one("StopGradient", [x]); }

  /**
   * Marks `x` for rematerialisation: gradient rules read a copy of its subgraph emitted in the
   * backward (after the gradient reaching it exists), so the forward copy and its large
   * intermediates die after their last forward use. Meant for values computed from parameters only.
   */
  recompute(x: Value): Value {
    this.recomputed.add(x);
    return x;
  }

  /** Keeps an initializer inside the model when other weights are fed as inputs (see `inGraph`); inputs are unaffected. */
  keepInGraph(v: Value): Value {
    if (v.kind === "initializer") this.inGraph.add(v);
    return v;
  }

  /** x @ w + b with w stored [in, out]. */
  linear(x: Value, w: Value, b: Value | null): Value {
    const y = this.MatMul(x, w);
    return b ? this.Add(y, b) : y;
  }

  /**
   * y = f(xs) differentiated by `vjp` instead of through f's nodes: f's intermediates die after the
   * forward, and the backward recomputes what it needs from xs (rematerialisation).
   *
   * @example
   * const y = g.customVjp([x], (g, [x]) => g.Exp(x), (g, [x], y, dy) => [g.Mul(dy, y)]);
   */
  customVjp(xs: readonly Value[], f: (g: GraphBuilder, xs: Value[]) => Value, vjp: CustomRule): Value {
    const inner = f(this, xs.map((x) => this.stopGradient(x)));
    const y = this.op("CustomGrad", [inner, ...xs])[0]!;
    CUSTOM_RULES.set(y.producer!, vjp);
    return y;
  }

  /**
   * Exact GELU, x Φ(x) = 0.5 x (1 + erf(x / sqrt 2)), as timm's nn.GELU. Its backward,
   * dy (Φ(x) + x φ(x)), is recomputed from x, so only x stays alive for it (as in torch).
   */
  gelu(x: Value): Value {
    const dt = x.dtype;
    return this.customVjp(
      [x],
      (g, [v]) => g.Mul(v!, g.Mul(g.Add(g.Erf(g.Mul(v!, g.scalar(Math.SQRT1_2, dt))), g.scalar(1, dt)), g.scalar(0.5, dt))),
      (g, [v], _y, dy) => {
        // Written differently from the forward (Div, not Mul) so ORT's common-subexpression
        // elimination cannot merge the two and keep the forward's erf alive until the backward.
        const cdf = g.Mul(g.Add(g.Erf(g.Div(v!, g.scalar(Math.SQRT2, dt))), g.scalar(1, dt)), g.scalar(0.5, dt));
        const pdf = g.Mul(g.Exp(g.Mul(g.Mul(v!, v!), g.scalar(-0.5, dt))), g.scalar(1 / Math.sqrt(2 * Math.PI), dt));
        return [g.Mul(dy, g.Add(cdf, g.Mul(v!, pdf)))];
      },
    );
  }

  /**
   * sign(x) in {-1, 0, 1} as (x > 0) - (x < 0): ONNX Sign has no WebGPU kernel in onnxruntime 1.30
   * (its nodes ran on the CPU provider). No gradient (as Sign); NaN gives 0, not NaN.
   */
  sign(x: Value): Value {
    return this.Sub(this.Cast(this.Greater(x, this.scalar(0, x.dtype)), x.dtype), this.Cast(this.Less(x, this.scalar(0, x.dtype)), x.dtype));
  }

  /**
   * log_softmax(x) along `axis` as x - m - log(sum(exp(x - m))), m = max(x) (the shift is exact in
   * the result, so m carries no gradient): ONNX LogSoftmax has no WebGPU kernel in onnxruntime 1.30.
   * Differentiated as LogSoftmax, dy - exp(y)·sum(dy), from the output only.
   */
  logSoftmax(x: Value, axis = -1): Value {
    const ax = axis < 0 ? axis + x.rank : axis;
    return this.customVjp(
      [x],
      (g, [v]) => {
        const z = g.Sub(v!, g.ReduceMax(v!, [ax], 1));
        return g.Sub(z, g.Log(g.ReduceSum(g.Exp(z), [ax], 1)));
      },
      (g, _xs, y, dy) => [g.Sub(dy, g.Mul(g.Exp(y), g.ReduceSum(dy, [ax], 1)))],
    );
  }

  /** A zero tensor of a static shape, broadcast from one scalar (no large initializer). */
  zeros(shape: readonly number[], dtype: DType = "float32"): Value {
    return shape.length ? this.Expand(this.scalar(0, dtype), shape) : this.scalar(0, dtype);
  }

  // ---- seeded randomness (src/ir/ops/random.ts) ------------------------------------------------

  /** ONNX Range over constant integer scalars. */
  Range(start: number, limit: number, delta = 1, dtype: DType = "int64"): Value {
    return this.one("Range", [this.scalar(start, dtype), this.scalar(limit, dtype), this.scalar(delta, dtype)]);
  }
  /** Integer remainder (ONNX Mod, fmod = 0: the sign follows the divisor). */
  Mod(a: Value, b: Value): Value { return this.one("Mod", [a, b], { fmod: 0 }); }

  /** Inverted dropout with a mask hashed from `seed` (int64, fed per step) and the element index. */
  dropout(x: Value, p: number, seed: Value, salt?: number): Value { return dropout(this, x, p, seed, salt); }

  /** timm's DropPath: drops whole samples (axis 0) with probability p, mask hashed from `seed`. */
  dropPath(x: Value, p: number, seed: Value, salt?: number): Value { return dropPath(this, x, p, seed, salt); }
}
