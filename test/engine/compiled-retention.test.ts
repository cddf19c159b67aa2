/** @file A compiled graph keeps no path to the builder's IR: a value's producer reaches every node and constant behind it. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GraphBuilder } from "../../src/ir/builder.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

test("CompiledGraph's inputs and outputs carry no producer, and it still runs by name", async () => {
  const g = new GraphBuilder("retention");
  const x = g.input("x", [2, 3]);
  const y = g.Mul(g.Add(x, g.constant([1, 2, 3], [3], "float32")), g.scalar(2, "float32"));
  g.output(y, "y");
  assert.ok(y.producer, "the builder's output has its producer");
  const c = await CompiledGraph.compile(g);
  try {
    for (const v of [...c.inputs.values(), ...c.outputs]) assert.equal(v.producer, null, `${v.name} keeps its producer`);
    assert.deepEqual(c.outputs.map((v) => [v.name, v.shape, v.dtype]), [["y", [2, 3], "float32"]]);
    const { y: out } = await c.run({ x: Float32Array.from([0, 1, 2, 3, 4, 5]) });
    assert.deepEqual([...(out!.data as Float32Array)], [2, 6, 10, 8, 12, 16]);
  } finally {
    await c.release();
  }
});
