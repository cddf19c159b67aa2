/**
 * @file Named parameters and how they enter a graph: trainable ones as fed state (graph inputs),
 * frozen ones as initializers. Models and PEFT methods create values only through `ParamBinder`.
 */
import { ConfigError, ShapeError, unknownName } from "../errors.js";
import type { GraphBuilder } from "./builder.js";
import { numel } from "./dtype.js";
import { dequantizeWeight, type Int8Weight, type QuantizedWeight } from "./int8-matmul.js";
import { fmt } from "./shape.js";
import type { Value } from "./value.js";

export interface Parameter {
  /** timm-style state-dict key, e.g. "blocks.3.attn.qkv.weight" or "blocks.3.attn.q.snell_A". */
  readonly name: string;
  readonly shape: readonly number[];
  /** Current values (float32, row-major). Replaced, not mutated, when training writes back. */
  data: Float32Array;
  trainable: boolean;
  /** Whether weight decay applies (the SNELL recipe gives none to 1-D params, biases, cls_token, pos_embed). */
  decay: boolean;
  /**
   * A frozen weight [N, K] kept only as int8 plus per-channel scales (`backbonePrecision: "int8"`);
   * `data` then dequantizes on each read (merge, export), so nothing float32 stays resident.
   */
  readonly quantized?: QuantizedWeight;
}

/**
 * An ordered set of parameters.
 *
 * @example
 * const ps = new ParameterStore();
 * ps.add("head.weight", [384, 10], new Float32Array(3840), { trainable: true });
 */
export class ParameterStore {
  private readonly map = new Map<string, Parameter>();

  add(name: string, shape: readonly number[], data: Float32Array, opts: { trainable?: boolean; decay?: boolean } = {}): Parameter {
    if (this.map.has(name)) throw new ConfigError(`parameter "${name}" already exists`);
    if (data.length !== numel(shape)) throw new ShapeError(`parameter "${name}": ${data.length} values for shape ${fmt(shape)}`);
    const p: Parameter = { name, shape: [...shape], data, trainable: opts.trainable ?? false, decay: opts.decay ?? shape.length > 1 };
    this.map.set(name, p);
    return p;
  }

  /** Adds a frozen weight of timm shape [N, K] held as int8 (see `Parameter.quantized`). */
  addQuantized(name: string, shape: readonly [number, number], qw: QuantizedWeight, opts: { decay?: boolean } = {}): Parameter {
    if (this.map.has(name)) throw new ConfigError(`parameter "${name}" already exists`);
    const [N, K] = shape;
    if (qw.q.length !== N * K || qw.scale.length !== N) throw new ShapeError(`parameter "${name}": int8 data does not fit ${fmt(shape)}`);
    const p = { name, shape: [N, K], trainable: false, decay: opts.decay ?? true, quantized: qw } as unknown as Parameter;
    Object.defineProperty(p, "data", {
      enumerable: true,
      get: () => dequantizeWeight(qw, N, K),
      set: () => { throw new ConfigError(`parameter "${name}" is an int8 frozen weight and cannot be written`); },
    });
    this.map.set(name, p);
    return p;
  }

  /** Adds a copy of another store's parameter (same values, shared, not copied), keeping an int8 weight int8. */
  addFrom(p: Parameter, opts: { trainable?: boolean; decay?: boolean } = {}): Parameter {
    const decay = opts.decay ?? p.decay;
    if (!p.quantized) return this.add(p.name, p.shape, p.data, { trainable: opts.trainable ?? p.trainable, decay });
    if (opts.trainable) throw new ConfigError(`parameter "${p.name}" is an int8 frozen weight and cannot be trained`);
    return this.addQuantized(p.name, p.shape as [number, number], p.quantized, { decay });
  }

  /** Replaces a frozen parameter's values by float32 data or an int8 form of the same shape, keeping its place in the order. */
  replace(name: string, value: Float32Array | QuantizedWeight): void {
    const p = this.get(name);
    const tmp = new ParameterStore();
    const np = value instanceof Float32Array
      ? tmp.add(name, p.shape, value, { trainable: p.trainable, decay: p.decay })
      : tmp.addQuantized(name, p.shape as [number, number], value, { decay: p.decay });
    this.map.set(name, np); // an existing key keeps its place in a Map's order
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  get(name: string): Parameter {
    const p = this.map.get(name);
    if (!p) throw unknownName("parameter", name, [...this.map.keys()].slice(0, 20));
    return p;
  }

  /** Replaces a parameter's values, checking the size. */
  set(name: string, data: Float32Array): void {
    const p = this.get(name);
    if (data.length !== p.data.length) throw new ShapeError(`parameter "${name}": ${data.length} values for shape ${fmt(p.shape)}`);
    p.data = data;
  }

  delete(name: string): void {
    this.map.delete(name);
  }

  list(): Parameter[] {
    return [...this.map.values()];
  }

  trainable(): Parameter[] {
    return this.list().filter((p) => p.trainable);
  }

  /** Number of scalars, all or trainable only. */
  count(trainableOnly = false): number {
    // From shapes: an int8 weight's `data` would dequantize it.
    return (trainableOnly ? this.trainable() : this.list()).reduce((n, p) => n + numel(p.shape), 0);
  }
}

/**
 * Hands out graph values for parameters while a graph is built: a trainable parameter becomes a
 * graph input named after it (its value is fed each run), a frozen one an initializer.
 * Asking twice for one name returns the same value.
 */
export class ParamBinder {
  private readonly bound = new Map<string, Value>();
  private readonly quant = new Map<string, Int8Weight>();
  constructor(readonly g: GraphBuilder, readonly params: ParameterStore) {}

  get(name: string): Value {
    const hit = this.bound.get(name);
    if (hit) return hit;
    const p = this.params.get(name);
    const v = p.trainable ? this.g.input(name, p.shape) : this.g.initializer(name, p.shape, () => p.data);
    this.bound.set(name, v);
    return v;
  }

  /**
   * An int8 frozen weight as graph values (q [K, N] int8, scale [N]), or null when `name` is stored float32.
   * Models route such weights through int8Linear; `get` on them still works (a dequantized initializer).
   */
  int8(name: string): Int8Weight | null {
    const p = this.params.get(name);
    if (!p.quantized) return null;
    const key = `${name}#int8`;
    const hit = this.quant.get(key);
    if (hit) return hit;
    const [N, K] = p.shape as [number, number];
    const w = { q: this.g.initializer(`${name}_int8`, [K, N], p.quantized.q, "int8"), scale: this.g.initializer(`${name}_scale`, [N], p.quantized.scale) };
    this.quant.set(key, w);
    return w;
  }

  /** Trainable parameters that the graph actually uses, in binding order. */
  boundTrainable(): Array<{ param: Parameter; value: Value }> {
    return [...this.bound.entries()].map(([n, v]) => ({ param: this.params.get(n), value: v })).filter((e) => e.param.trainable);
  }
}
