/**
 * @file Meta-tests: every op with a gradient rule has a finite-difference row, and every op the IR
 * knows is written as a standard ONNX node (domain "", opset 17) that ONNX Runtime loads.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { crossEntropy } from "../../src/ir/losses.js";
import { OPS } from "../../src/ir/ops/index.js";
import type { Value } from "../../src/ir/value.js";
import { OPSET } from "../../src/onnx/opset.js";
import { onnx } from "../../src/onnx/proto.js";
import { writeModel } from "../../src/onnx/writer.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { ROWS } from "./op-rows.js";

/** Builds every row's forward graph into `g` (inputs prefixed per row); returns the rows' outputs. */
function buildRows(g: GraphBuilder, onRow?: (title: string, types: Set<string>) => void): Value[] {
  return ROWS.map(([title, f, inputs, opts], r) => {
    const before = g.nodes.length;
    const xs = inputs.map((s, i) => g.input(`row${r}_x${i}`, s.shape, s.dtype ?? opts?.dtype ?? "float64"));
    const y = g.scope(`row${r}`, () => f(g, xs));
    onRow?.(title, new Set(g.nodes.slice(before).map((n) => n.type)));
    return y;
  });
}

/** Ops no row reaches (no gradient rule), each used once so the domain check sees it. */
const EXTRA: Record<string, (g: GraphBuilder, x: Value) => Value> = {
  Sign: (g, x) => g.Sign(x),
  StopGradient: (g, x) => g.stopGradient(x),
  Equal: (g, x) => g.Cast(g.Equal(x, x), "float32"),
  Less: (g, x) => g.Cast(g.Less(x, x), "float32"),
  Greater: (g, x) => g.Cast(g.Greater(x, x), "float32"),
  GreaterOrEqual: (g, x) => g.Cast(g.GreaterOrEqual(x, x), "float32"),
  LessOrEqual: (g, x) => g.Cast(g.LessOrEqual(x, x), "float32"),
  And: (g, x) => g.Cast(g.And(g.Less(x, x), g.Greater(x, x)), "float32"),
  Or: (g, x) => g.Cast(g.Or(g.Less(x, x), g.Greater(x, x)), "float32"),
  Not: (g, x) => g.Cast(g.Not(g.Less(x, x)), "float32"),
  ArgMax: (g, x) => g.Cast(g.ArgMax(x, 1, 1), "float32"),
  OneHot: (g, x) => g.OneHot(g.ArgMax(x, 1, 0), 3, g.constant([0, 1])),
  ScatterElements: (g, x) => g.ScatterElements(x, g.constant([0, 1, 0, 1, 0, 1], [2, 3], "int64"), x, 0),
  Shape: (g, x) => g.Cast(g.op("Shape", [x])[0]!, "float32"),
  Range: (g) => g.Cast(g.Range(0, 3), "float32"),
  Mod: (g) => g.Cast(g.Mod(g.Range(0, 5), g.scalar(3, "int64")), "float32"),
  Round: (g, x) => g.Round(x),
  QuantizeLinear: (g, x) => g.Cast(g.QuantizeLinear(x, g.scalar(0.1), g.scalar(128, "uint8")), "float32"),
  DynamicQuantizeLinear: (g, x) => g.Cast(g.DynamicQuantizeLinear(x)[0], "float32"),
  MatMulInteger: (g, x) => g.Cast(g.MatMulInteger(g.DynamicQuantizeLinear(x)[0], g.constant([1, -2, 3, 4, -5, 6], [3, 2], "int8")), "float32"),
};

describe("coverage of the op registry", () => {
  test("every op with a gradient rule appears in a finite-difference row", () => {
    const covered = new Map<string, string>();
    buildRows(new GraphBuilder(), (title, types) => types.forEach((t) => covered.has(t) || covered.set(t, title)));
    const missing = Object.entries(OPS).filter(([name, d]) => typeof d.vjp === "function" && !covered.has(name)).map(([n]) => n);
    assert.deepEqual(missing, [], `ops with a vjp function but no row in test/grad/op-rows.ts: ${missing.join(", ")}`);
  });

  test("every op is written with domain \"\" at the pinned opset, and ONNX Runtime loads the graph", async () => {
    const g = new GraphBuilder();
    const ys = buildRows(g);
    const x = g.input("extra_x", [2, 3]);
    for (const [name, f] of Object.entries(EXTRA)) g.output(g.scope(`extra_${name}`, () => f(g, x)), `extra_${name}`);
    const logits = g.input("logits", [2, 3], "float64");
    const labels = g.input("labels", [2], "int64");
    const seed = g.input("seed", [], "int64");
    const loss = crossEntropy(g, g.dropout(logits, 0.2, seed), labels, { labelSmoothing: 0.1 });
    const leaves = [logits, ...g.inputs.filter((v) => v.name.startsWith("row") && v.dtype.startsWith("float"))];
    // One scalar that reaches every row, so the gradient nodes (Pad, ScatterElements, ...) are written too.
    let total = loss;
    for (const y of ys) {
      const s = g.ReduceSum(y, y.shape.map((_, i) => i), 0);
      total = g.Add(total, y.dtype === "float64" ? s : g.Cast(s, "float64"));
    }
    g.output(total, "total");
    grad(g, total, leaves).forEach((d) => g.output(d));

    const { bytes } = writeModel(g);
    const model = onnx.ModelProto.decode(bytes);
    assert.deepEqual(model.opsetImport.map((o) => [o.domain ?? "", Number(o.version)]), [["", OPSET]]);
    assert.equal(OPSET, 17);
    const nodes = model.graph?.node ?? [];
    assert.ok(nodes.length > 100, `only ${nodes.length} nodes written`);
    const offDomain = nodes.filter((n) => (n.domain ?? "") !== "");
    assert.deepEqual(offDomain.map((n) => `${n.name}: ${n.domain}`), []);
    const emitted = new Set(nodes.map((n) => n.opType));
    const notSeen = Object.entries(OPS).filter(([, d]) => !emitted.has(d.onnx)).map(([n]) => n);
    assert.deepEqual(notSeen, [], `ops never written by this test (add them to EXTRA): ${notSeen.join(", ")}`);

    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    assert.ok(c.outputs.length > ys.length);
    await c.release();
  });
});
