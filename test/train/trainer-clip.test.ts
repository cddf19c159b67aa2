/** @file Gradient clipping by global norm inside the step graph, against torch's clip_grad_norm_ formula. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ParameterStore } from "../../src/ir/parameters.js";
import { GRAD_NORM_OUTPUT, TrainSession } from "../../src/train/step-session.js";

/** loss = sum((x @ w) * c) + sum(b * d): the gradients are x^T c and d, known in closed form. */
async function stepWith(clip: number | undefined) {
  const params = new ParameterStore();
  const w0 = Float32Array.from({ length: 6 }, (_, i) => 0.1 * i - 0.2);
  params.add("w", [3, 2], w0.slice(), { trainable: true });
  params.add("b", [2], Float32Array.of(0.5, -0.5), { trainable: true });
  const s = await TrainSession.create({
    params,
    optimizer: { kind: "sgd", weightDecay: 0 },
    ...(clip !== undefined ? { clipGradNorm: clip } : {}),
    build: (g, bind) => {
      const x = g.input("x", [4, 3]);
      const c = g.constant([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
      const d = g.constant([3, -4], [2]);
      const loss = g.Add(g.ReduceSum(g.Mul(g.MatMul(x, bind.get("w")), c), [0, 1], 0), g.ReduceSum(g.Mul(bind.get("b"), d), [0], 0));
      return { loss, logits: g.MatMul(x, bind.get("w")) };
    },
  });
  const x = Float32Array.from({ length: 12 }, (_, i) => (i % 5) - 2);
  const r = await s.step({ x }, 0.1);
  const st = await s.exportState();
  await s.release();
  // Closed-form gradients.
  const gw = new Float64Array(6);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) for (let n = 0; n < 4; n++) gw[i * 2 + j] += x[n * 3 + i]! * (n * 2 + j + 1);
  const gb = [3, -4];
  const norm = Math.hypot(...gw, ...gb);
  return { r, st, w0, gw, gb, norm };
}

describe("clipGradNorm", () => {
  test("scales every gradient by max / (norm + 1e-6) when the norm is larger, and outputs the norm", async () => {
    const { r, st, w0, gw, gb, norm } = await stepWith(1.5);
    assert.ok(Math.abs(r.outputs[GRAD_NORM_OUTPUT]![0]! - norm) < 1e-4 * norm);
    const k = 1.5 / (norm + 1e-6);
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(st.tensors.w![i]! - (w0[i]! - 0.1 * k * gw[i]!)) < 1e-6, `w[${i}]`);
    assert.ok(Math.abs(st.tensors.b![0]! - (0.5 - 0.1 * k * gb[0]!)) < 1e-6);
    assert.ok(Math.abs(st.tensors.b![1]! - (-0.5 - 0.1 * k * gb[1]!)) < 1e-6);
  });

  test("leaves gradients below the limit alone", async () => {
    const { st, w0, gw, norm } = await stepWith(1e6);
    assert.ok(norm < 1e6);
    for (let i = 0; i < 6; i++) assert.ok(Math.abs(st.tensors.w![i]! - (w0[i]! - 0.1 * gw[i]!)) < 1e-5, `w[${i}]`);
  });

  test("is absent from the graph unless asked for", async () => {
    const { r } = await stepWith(undefined);
    assert.equal(r.outputs[GRAD_NORM_OUTPUT], undefined);
  });
});
