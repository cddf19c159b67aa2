/**
 * @file Reverse-mode autodiff over the IR: walks back from a scalar, calls each op's rule,
 * sums broadcast axes away and accumulates fan-out. Only paths that reach a trainable leaf get
 * gradient nodes, so a frozen backbone produces no weight gradients.
 */
import { GradError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { OPS, type OpName } from "../ir/ops/index.js";
import { fmt } from "../ir/shape.js";
import type { Node, Value } from "../ir/value.js";
import { Rematerializer } from "./remat.js";
import { unbroadcast } from "./unbroadcast.js";

export interface GradOptions {
  /** Upstream gradient of `y`; defaults to ones (y must then be a scalar or a 1-element tensor). */
  seed?: Value;
}

/** Values that depend on any of `leaves` (excluding paths through StopGradient). */
function dependents(g: GraphBuilder, leaves: readonly Value[]): Set<Value> {
  const dep = new Set<Value>(leaves);
  for (const n of g.nodes) {
    if (OPS[n.type as OpName].vjp === "none") continue;
    if (n.inputs.some((v) => v && dep.has(v))) for (const o of n.outputs) dep.add(o);
  }
  return dep;
}

/** Nodes `y` depends on. */
function ancestors(y: Value): Set<Node> {
  const seen = new Set<Node>();
  const stack: Node[] = y.producer ? [y.producer] : [];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const v of n.inputs) if (v?.producer) stack.push(v.producer);
  }
  return seen;
}

/**
 * Appends to `g` the nodes computing dy/dx for each x in `wrt`, and returns them in order.
 * A leaf that `y` does not depend on gets a zero gradient. Gradients are named "<leaf>_grad".
 *
 * @example
 * const loss = g.ReduceMean(g.Mul(err, err), [0, 1], 0);
 * const [dw] = grad(g, loss, [w]);
 */
export function grad(g: GraphBuilder, y: Value, wrt: readonly Value[], opts: GradOptions = {}): Value[] {
  if (!opts.seed && y.shape.some((d) => d !== 1)) {
    throw new GradError(`grad: "${y.name}" has shape ${fmt(y.shape)}; pass a seed or reduce to a scalar first`);
  }
  const dep = dependents(g, wrt);
  const onPath = ancestors(y);
  const pending = new Map<Value, Value[]>();
  pending.set(y, [opts.seed ?? g.constant([1], y.shape, y.dtype)]);

  const total = (v: Value): Value | null => {
    const parts = pending.get(v);
    if (!parts?.length) return null;
    let acc = parts[0]!;
    for (let i = 1; i < parts.length; i++) acc = g.withScope(`${v.name}_grad`, () => g.Add(acc, parts[i]!));
    pending.set(v, [acc]);
    return acc;
  };

  const nodes = g.nodes.filter((n) => onPath.has(n) && n.outputs.some((o) => dep.has(o)));
  const remat = g.recomputed.size ? new Rematerializer(g) : null;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    const def = OPS[node.type as OpName];
    const dys = node.outputs.map(total);
    if (dys.every((d) => d === null)) continue;
    const needs = node.inputs.map((v) => v !== null && dep.has(v));
    if (!needs.some(Boolean)) continue;
    if (def.vjp === "never") throw new GradError(`op "${node.type}" (node "${node.name}") has no gradient and must not be differentiated`);
    if (def.vjp === "none") continue;
    const rule = def.vjp;
    const grads = g.withScope(`${node.name}_grad`, () => {
      const dy = node.outputs.map((o, k) => dys[k] ?? g.zeros(o.shape, o.dtype));
      // Rematerialised values: the rule reads clones emitted here, after dy exists.
      const view = remat?.active ? remat.view(node, dy[0]!) : { x: node.inputs, y: node.outputs };
      return rule({ g, node, x: view.x, y: view.y, dy, attrs: node.attrs, needs });
    });
    node.inputs.forEach((x, k) => {
      const d = grads[k];
      if (!x || !needs[k] || !d) return;
      const fitted = g.withScope(`${node.name}_grad`, () => unbroadcast(g, d, x.shape));
      const list = pending.get(x) ?? [];
      list.push(fitted);
      pending.set(x, list);
    });
  }
  const named = new Set<Value>();
  return wrt.map((x) => {
    let d = total(x);
    if (!d) return g.zeros(x.shape, x.dtype);
    // A value can be the gradient of two leaves (d(a+b)); give each leaf its own named output.
    if (d.kind !== "node" || named.has(d)) d = g.Identity(d);
    named.add(d);
    g.rename(d, `${x.name}_grad`);
    return d;
  });
}
