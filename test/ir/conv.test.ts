/** @file Grouped, dilated, padded Conv: forward against a direct loop, attributes written explicitly, clear errors. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { GradError, ShapeError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { onnx } from "../../src/onnx/proto.js";
import { writeModel } from "../../src/onnx/writer.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

/** The defining sum, written out: y[n,o,h,w] = b[o] + sum xp[n, grp*Cg+ci, h*s+i*d, w*s+j*d] W[o,ci,i,j]. */
function directConv(x: Float32Array, xs: number[], w: Float32Array, ws: number[], b: Float32Array, s: number[], p: number[], d: number[], G: number) {
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, Cg, KH, KW] = ws as [number, number, number, number];
  const OH = Math.floor((H + p[0]! + p[2]! - d[0]! * (KH - 1) - 1) / s[0]!) + 1;
  const OW = Math.floor((W + p[1]! + p[3]! - d[1]! * (KW - 1) - 1) / s[1]!) + 1;
  const out = new Float32Array(N * O * OH * OW);
  const Og = O / G;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let h = 0; h < OH; h++) for (let q = 0; q < OW; q++) {
    let acc = b[o]!;
    for (let ci = 0; ci < Cg; ci++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
      const r = h * s[0]! + i * d[0]! - p[0]!, c = q * s[1]! + j * d[1]! - p[1]!;
      if (r < 0 || r >= H || c < 0 || c >= W) continue;
      const ch = Math.floor(o / Og) * Cg + ci;
      acc += x[((n * C + ch) * H + r) * W + c]! * w[((o * Cg + ci) * KH + i) * KW + j]!;
    }
    out[((n * O + o) * OH + h) * OW + q] = acc;
  }
  return { out, shape: [N, O, OH, OW] };
}

const randn = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.normal());

describe("Conv", () => {
  test("grouped, strided, dilated, unevenly padded forward matches the direct sum", async () => {
    const rng = new Rng(3);
    const xs = [2, 6, 9, 8], ws = [4, 3, 3, 2], s = [2, 1], p = [1, 0, 2, 1], d = [1, 2], G = 2;
    const x = randn(rng, 2 * 6 * 9 * 8), w = randn(rng, 4 * 3 * 3 * 2), b = randn(rng, 4);
    const want = directConv(x, xs, w, ws, b, s, p, d, G);
    const g = new GraphBuilder();
    const y = g.Conv(g.input("x", xs), g.initializer("w", ws, w), g.initializer("b", [4], b), { strides: s, pads: p, dilations: d, group: G });
    assert.deepEqual(y.shape, want.shape);
    g.output(y, "y");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const got = (await c.run({ x })).y!.data as Float32Array;
    await c.release();
    const err = Math.max(...got.map((v, i) => Math.abs(v - want.out[i]!)));
    assert.ok(err < 1e-4, `max error ${err}`);
  });

  test("every attribute is written, ONNX defaults filled in (onnxruntime-web needs dilations)", () => {
    const g = new GraphBuilder();
    g.output(g.Conv(g.input("x", [1, 4, 5, 5]), g.input("w", [4, 1, 3, 3]), null, { pads: [1, 1, 1, 1], group: 4 }), "y");
    const node = onnx.ModelProto.decode(writeModel(g).bytes).graph!.node!.find((n) => n.opType === "Conv")!;
    const attrs = Object.fromEntries(node.attribute!.map((a) => [a.name, (a.ints ?? []).map(Number)]));
    assert.deepEqual(attrs, { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: [] });
    assert.equal(Number(node.attribute!.find((a) => a.name === "group")!.i), 4);
  });

  test("a depthwise weight marked keepInGraph stays an initializer when the other weights are fed as inputs", () => {
    const g = new GraphBuilder();
    const big = new Float32Array(512 * 49); // 100 KB: past the writer's 64 KiB small-constant limit
    const kept = g.keepInGraph(g.initializer("dw_kept", [512, 1, 7, 7], big));
    const fed = g.initializer("dw_fed", [512, 1, 7, 7], big);
    const x = g.input("x", [1, 512, 7, 7]);
    g.output(g.Add(g.Conv(x, kept, null, { pads: [3, 3, 3, 3], group: 512 }), g.Conv(x, fed, null, { pads: [3, 3, 3, 3], group: 512 })), "y");
    const w = writeModel(g, { weights: "inputs" });
    assert.deepEqual([...w.weightFeeds.keys()], ["dw_fed"]);
    assert.deepEqual(onnx.ModelProto.decode(w.bytes).graph!.initializer!.map((t) => t.name).filter((n) => n!.startsWith("dw")), ["dw_kept"]);
  });

  test("the input gradient of a strided, padded Conv is refused by name", () => {
    const g = new GraphBuilder();
    const x = g.input("x", [1, 2, 6, 6]);
    const y = g.Conv(x, g.initializer("w", [2, 2, 3, 3], new Float32Array(36)), null, { strides: [2, 2], pads: [1, 1, 1, 1] });
    assert.throws(() => grad(g, g.ReduceSum(y, [0, 1, 2, 3], 0), [x]), (e: Error) => e instanceof GradError && /stride 1/.test(e.message));
  });

  test("a group that does not divide the channels is a ShapeError", () => {
    const g = new GraphBuilder();
    assert.throws(() => g.Conv(g.input("x", [1, 6, 4, 4]), g.input("w", [4, 2, 3, 3]), null, { group: 4 }), ShapeError);
    assert.throws(() => g.Conv(g.input("x2", [1, 6, 4, 4]), g.input("w2", [6, 2, 3, 3]), null, { group: 2 }), /weight expects 2 per group/);
  });
});
