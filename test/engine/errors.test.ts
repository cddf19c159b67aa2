/** @file Bad input fails early and clearly: messages name the op, the node, the feed and the values involved. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { ConfigError, GradError, RuntimeError, ShapeError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { ort } from "../../src/runtime/ort.js";

/** Asserts `fn` throws an instance of `cls` whose message contains every fragment. */
function throwsWith(fn: () => unknown, cls: new (...a: never[]) => Error, fragments: readonly string[]): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message lacks ${JSON.stringify(f)}: ${e.message}`);
    return true;
  });
}

async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => Error, fragments: readonly string[]): Promise<Error> {
  let caught: Error | null = null;
  await p.catch((e: Error) => { caught = e; });
  assert.ok(caught, "expected a rejection");
  const e = caught as Error;
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${e.constructor.name}: ${e.message}`);
  for (const f of fragments) assert.ok(e.message.includes(f), `message lacks ${JSON.stringify(f)}: ${e.message}`);
  return e;
}

describe("build-time errors", () => {
  test("a shape mismatch names the op, the node and both shapes", () => {
    const g = new GraphBuilder();
    const a = g.input("a", [2, 3]), b = g.input("b", [4, 5]);
    throwsWith(() => g.scope("blocks.0.mlp.fc1", () => g.MatMul(a, b)), ShapeError, ["MatMul", "blocks.0.mlp.fc1/MatMul", "[2, 3]", "[4, 5]"]);
    throwsWith(() => g.Add(a, g.input("c", [3, 2])), ShapeError, ["Add", 'node "Add"', "[2, 3]", "[3, 2]"]);
    throwsWith(() => g.Reshape(a, [4, 2]), ShapeError, ["Reshape", "[2, 3]", "[4, 2]"]);
    throwsWith(() => g.Concat([a, b], 0), ShapeError, ["Concat", "[4, 5]", "[2, 3]"]);
    throwsWith(() => g.Mul(a, g.input("d", [2, 3], "float64")), ShapeError, ["Mul", "float32", "float64"]);
  });

  test("an unknown op lists the valid ones", () => {
    const g = new GraphBuilder();
    throwsWith(() => g.op("Matmul", [g.input("x", [2])]), ConfigError, ['unknown op "Matmul"', "MatMul", "Softmax", "LayerNormalization"]);
  });

  test("differentiating an op that refuses a gradient raises GradError naming the op and node", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2, 3]);
    const idx = g.constant([0, 1, 0, 1, 0, 1], [2, 3], "int64");
    const y = g.scope("scatter", () => g.ScatterElements(g.zeros([2, 3]), idx, x, 0));
    throwsWith(() => grad(g, g.ReduceSum(y, [0, 1], 0), [x]), GradError, ['"ScatterElements"', "scatter/ScatterElements"]);
  });

  test("a rule that covers only some attributes raises GradError naming the node (Conv's input gradient at stride 2 with pads)", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [1, 2, 5, 5]), w = g.input("w", [3, 2, 3, 3]);
    const y = g.scope("stem", () => g.Conv(x, w, null, { strides: [2, 2], pads: [1, 1, 1, 1] }));
    throwsWith(() => grad(g, g.ReduceSum(y, [0, 1, 2, 3], 0), [x]), GradError, ["Conv", "stem/Conv", "strides [2, 2]"]);
  });

  test("a non-scalar loss without a seed is refused by name and shape", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [2, 3]);
    throwsWith(() => grad(g, g.Mul(x, x), [x]), GradError, ['"Mul"', "[2, 3]"]);
  });

  test("integer and comparison ops on the path carry no gradient and do not make autodiff fail", async () => {
    const g = new GraphBuilder();
    const x = g.input("x", [4], "float64");
    const mask = g.Cast(g.Greater(x, g.scalar(0, "float64")), "float64");
    const y = g.ReduceSum(g.Mul(x, mask), [0], 0);
    g.output(grad(g, y, [x])[0]!);
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const out = await c.run({ x: Float64Array.of(-1, 2, -3, 4) });
    assert.deepEqual([...(out.x_grad!.data as Float64Array)], [0, 1, 0, 1]);
    await c.release();
  });
});

describe("run-time errors", async () => {
  const g = new GraphBuilder();
  const table = g.initializer("embed.weight", [3, 2], Float32Array.of(1, 2, 3, 4, 5, 6));
  const ids = g.input("ids", [4], "int64");
  const x = g.input("x", [4, 2]);
  g.output(g.scope("embed", () => g.Add(g.Gather(table, ids, 0), x)), "y");
  const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
  const okIds = BigInt64Array.of(0n, 1n, 2n, 1n), okX = new Float32Array(8);

  test("a good feed runs", async () => {
    const y = (await c.run({ ids: okIds, x: okX })).y!.data as Float32Array;
    assert.deepEqual([...y], [1, 2, 3, 4, 5, 6, 3, 4]);
  });

  test("an unknown feed name is a ConfigError listing the graph's inputs", async () => {
    await rejectsWith(c.run({ ids: okIds, x: okX, xx: okX }), ConfigError, ['unknown feed "xx"', "ids", "x"]);
  });

  test("a missing feed is a ConfigError naming it with its dtype and shape", async () => {
    await rejectsWith(c.run({ ids: okIds }), ConfigError, ['missing feed "x"', "float32", "[4, 2]"]);
  });

  test("a wrong dtype is a ConfigError naming the feed and both dtypes", async () => {
    await rejectsWith(c.run({ ids: Float32Array.of(0, 1, 2, 1), x: okX }), ConfigError, ['feed "ids"', "float32", "int64"]);
    await rejectsWith(c.run({ ids: okIds, x: new ort.Tensor("float64", new Float64Array(8), [4, 2]) }), ConfigError, ['feed "x"', "float64", "float32"]);
  });

  test("a wrong size or shape is a ConfigError naming the feed and both shapes", async () => {
    await rejectsWith(c.run({ ids: okIds, x: new Float32Array(6) }), ConfigError, ['feed "x"', "6 values", "[4, 2]"]);
    await rejectsWith(c.run({ ids: okIds, x: new ort.Tensor("float32", new Float32Array(8), [2, 4]) }), ConfigError, ['feed "x"', "[2, 4]", "[4, 2]"]);
  });

  test("an unknown fetch is a ConfigError listing the outputs", async () => {
    await rejectsWith(c.run({ ids: okIds, x: okX }, ["z"]), ConfigError, ['unknown fetch "z"', "y"]);
  });

  test("an ONNX Runtime failure is re-thrown as RuntimeError naming our node, with the cause kept", async () => {
    const e = await rejectsWith(c.run({ ids: BigInt64Array.of(0n, 1n, 7n, 1n), x: okX }), RuntimeError, ['node "embed/Gather"', "7"]);
    assert.ok(e.cause instanceof Error, "the ORT error is kept as cause");
  });

  test("a graph ONNX Runtime refuses at load time is a RuntimeError", async () => {
    const h = new GraphBuilder();
    const a = h.input("a", [2]);
    h.output(h.op("Identity", [a])[0]!, "b");
    h.nodes[0]!.outputs[0]!.name = "a"; // duplicate value name: invalid graph
    await rejectsWith(CompiledGraph.compile(h), RuntimeError, ["ONNX Runtime refused the graph"]);
  });

  test("releases the session", async () => { await c.release(); });
});
