/** @file Softmax cross-entropy with label smoothing: values against torch, gradient against finite differences. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { grad } from "../../src/autodiff/grad.js";
import { ConfigError, ShapeError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { crossEntropy } from "../../src/ir/losses.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { gradCheck } from "../helpers/gradcheck.js";

// Golden numbers from torch 1.13 (/usr/bin/python3):
//   logits = torch.tensor([[1.5,-0.3,0.2,2.0],[0.0,0.5,-1.2,0.7],[-2.0,1.0,3.0,0.1]], dtype=torch.float64)
//   labels = torch.tensor([3, 0, 2])
//   for eps in (0.0, 0.1, 0.35): F.cross_entropy(logits, labels, label_smoothing=eps, reduction=r) for r in mean/sum/none
//   l = logits.clone().requires_grad_(); F.cross_entropy(l, labels, label_smoothing=0.1).backward(); l.grad
const LOGITS = [1.5, -0.3, 0.2, 2.0, 0.0, 0.5, -1.2, 0.7, -2.0, 1.0, 3.0, 0.1];
const LABELS = [3n, 0n, 2n];
const TORCH: [eps: number, mean: number, sum: number, none: number[]][] = [
  [0.0, 0.8030328721914671, 2.4090986165744015, [0.627054594706181, 1.602145021853377, 0.17989900001484332]],
  [0.1, 0.9238662055248005, 2.7715986165744018, [0.742054594706181, 1.602145021853377, 0.4273990000148433]],
  [0.35, 1.2259495388581336, 3.677848616574401, [1.0295545947061808, 1.602145021853377, 1.0461490000148432]],
];
const TORCH_GRAD_EPS_01 = [
  0.09966204096196203, 0.009518181970753102, 0.021098839662742824, -0.13027906259545802,
  -0.24117869676852047, 0.10238594439721026, 0.011893254503055832, 0.12689949786825447,
  -0.006457141709441671, 0.029350982803318066, -0.029881807349778564, 0.006987966255902196,
];

const close = (a: ArrayLike<number>, b: readonly number[], tol: number, what: string) => {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < tol, `${what}[${i}]: ${a[i]} vs torch ${b[i]}`);
};

describe("crossEntropy", () => {
  test("matches torch's F.cross_entropy for every smoothing and reduction", async () => {
    const g = new GraphBuilder();
    const logits = g.input("logits", [3, 4], "float64");
    const labels = g.input("labels", [3], "int64");
    for (const [eps] of TORCH) {
      for (const reduction of ["mean", "sum", "none"] as const) {
        g.output(crossEntropy(g, logits, labels, { labelSmoothing: eps, reduction }), `ce_${eps}_${reduction}`);
      }
    }
    const loss = crossEntropy(g, logits, labels, { labelSmoothing: 0.1 });
    g.output(grad(g, loss, [logits])[0]!);
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const out = await c.run({ logits: Float64Array.from(LOGITS), labels: BigInt64Array.from(LABELS) });
    for (const [eps, mean, sum, none] of TORCH) {
      close(out[`ce_${eps}_mean`]!.data as Float64Array, [mean], 1e-12, `eps ${eps} mean`);
      close(out[`ce_${eps}_sum`]!.data as Float64Array, [sum], 1e-12, `eps ${eps} sum`);
      close(out[`ce_${eps}_none`]!.data as Float64Array, none, 1e-12, `eps ${eps} none`);
    }
    close(out["logits_grad"]!.data as Float64Array, TORCH_GRAD_EPS_01, 1e-12, "gradient at eps 0.1");
    await c.release();
  });

  for (const [eps, reduction] of [[0, "mean"], [0.1, "mean"], [0.3, "sum"], [0.2, "none"]] as const) {
    test(`gradient matches central differences (smoothing ${eps}, ${reduction})`, async () => {
      const { maxError, checked } = await gradCheck(
        (g, [x, y]) => crossEntropy(g, x!, y!, { labelSmoothing: eps, reduction }),
        [{ shape: [4, 5] }, { shape: [4], values: [0, 4, 2, 2], dtype: "int64" }],
      );
      assert.equal(checked, 20);
      assert.ok(maxError < 1e-7, `max error ${maxError}`);
    });
  }

  test("rejects bad labels, shapes and options with the offending value", () => {
    const g = new GraphBuilder();
    const logits = g.input("logits", [3, 4]);
    assert.throws(() => crossEntropy(g, logits, g.input("l32", [3], "int32")), (e: Error) => e instanceof ShapeError && /int64 \[3\]/.test(e.message));
    assert.throws(() => crossEntropy(g, logits, g.input("l2", [2], "int64")), ShapeError);
    const labels = g.input("labels", [3], "int64");
    assert.throws(() => crossEntropy(g, logits, labels, { labelSmoothing: 1.5 }), (e: Error) => e instanceof ConfigError && /1\.5/.test(e.message));
    assert.throws(() => crossEntropy(g, logits, labels, { reduction: "avg" as "mean" }), /unknown reduction "avg"/);
  });
});
