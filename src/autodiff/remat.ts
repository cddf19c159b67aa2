/**
 * @file Rematerialisation for reverse-mode autodiff: values marked with `g.recompute(v)` are
 * recomputed for the backward instead of kept alive. The region is every large value the marked
 * value is computed from, back to graph inputs, initializers and small values (which are kept:
 * a scalar threshold is cheaper to keep than to recompute). Gradient rules that read a value of
 * the region get a clone built in the backward; the clone's non-constant inputs get `+ 0 * dy[0]`,
 * a data dependency on the gradient that asked for it, so ONNX Runtime neither runs the clone
 * during the forward nor merges it with the original (common-subexpression elimination).
 * Without the dependency ORT's CSE does merge them (checked: no clone survived optimisation).
 */
import { GradError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { isFloat, numel } from "../ir/dtype.js";
import type { Node, Value } from "../ir/value.js";

/** Values up to this many elements are kept from the forward rather than recomputed. */
export const REMAT_KEEP_MAX = 65536;
/** A region larger than this is almost certainly a mistake (it would recompute a network). */
const MAX_REGION_NODES = 400;

const large = (v: Value) => numel(v.shape) > REMAT_KEEP_MAX;

/** Clones marked regions on demand while `grad` walks backwards. */
export class Rematerializer {
  private readonly region = new Set<Node>();
  private readonly clones = new Map<Value, Value>();
  /** Delayed copies by (kept value, token): each region waits on its own gradient. */
  private readonly delayed = new Map<Value, Map<Value, Value>>();

  constructor(private readonly g: GraphBuilder) {
    for (const root of g.recomputed) {
      const found = new Set<Node>();
      const stack = root.producer && large(root) ? [root.producer] : [];
      while (stack.length) {
        const n = stack.pop()!;
        if (found.has(n)) continue;
        found.add(n);
        if (found.size > MAX_REGION_NODES) {
          throw new GradError(`recompute("${root.name}"): the region has over ${MAX_REGION_NODES} nodes; mark a value computed from parameters only`);
        }
        for (const v of n.inputs) if (v?.producer && large(v)) stack.push(v.producer);
      }
      for (const n of found) this.region.add(n);
    }
  }

  get active(): boolean {
    return this.region.size > 0;
  }

  /** Whether `v` is recomputed rather than kept. */
  private recomputes(v: Value | null): boolean {
    return v !== null && v.producer !== null && this.region.has(v.producer) && large(v);
  }

  /** The values a rule of `node` should read: clones for recomputed inputs and (in a region) outputs. */
  view(node: Node, token: Value): { x: (Value | null)[]; y: Value[] } {
    const x = node.inputs.map((v) => (v && this.recomputes(v) ? this.clone(v, token) : v));
    const y = this.region.has(node) ? node.outputs.map((o) => (large(o) ? this.clone(o, token) : o)) : [...node.outputs];
    return { x, y };
  }

  private clone(v: Value, token: Value): Value {
    const hit = this.clones.get(v);
    if (hit) return hit;
    const node = v.producer!;
    const inputs = node.inputs.map((u) => {
      if (u === null) return null;
      if (this.recomputes(u)) return this.clone(u, token);
      // Kept values (parameters, small forward values) enter through the delay; constants need none.
      return u.kind !== "initializer" && isFloat(u.dtype) ? this.delay(u, token) : u;
    });
    const outs = this.g.withScope(`${node.name}_recompute`, () => this.g.op(node.type, inputs, node.attrs));
    node.outputs.forEach((o, i) => this.clones.set(o, outs[i]!));
    return this.clones.get(v)!;
  }

  /** leaf + 0 * (one element of token): the same numbers, available only once `token` is. */
  private delay(leaf: Value, token: Value): Value {
    let byToken = this.delayed.get(leaf);
    if (!byToken) this.delayed.set(leaf, (byToken = new Map()));
    const hit = byToken.get(token);
    if (hit) return hit;
    const g = this.g;
    const d = g.withScope(`${leaf.name}_recompute`, () => {
      const first = g.Reshape(g.Slice(g.Reshape(token, [-1]), [0], [1], [0]), []);
      const zero = g.Mul(token.dtype === leaf.dtype ? first : g.Cast(first, leaf.dtype), g.scalar(0, leaf.dtype));
      return g.Add(leaf, zero);
    });
    byToken.set(token, d);
    return d;
  }
}
