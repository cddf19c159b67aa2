/** @file TrainSession: gradient pruning for frozen layers, state hand-over, resume, eval graph, feed errors. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { ParameterStore } from "../../src/ir/parameters.js";
import { liveNodes } from "../../src/onnx/writer.js";
import { createOptimizer } from "../../src/train/optim/index.js";
import { buildStepGraph, TrainSession, type StepGraphSpec } from "../../src/train/step-session.js";
import { MLP, mlp, mlpData, mlpParams, mlpSpec } from "./fixture-models.js";

const { B, D, C } = MLP;
const params = mlpParams;
const data = mlpData;
const spec = (ps: ParameterStore, over: Partial<StepGraphSpec> = {}): StepGraphSpec => ({ ...mlpSpec(ps, { probs: true }), ...over });

/** Nodes that compute a weight gradient of fc2: something consuming fc2's input `h` besides fc2's own MatMul. */
function fc2WeightGradNodes(frozen: readonly string[]) {
  const { g } = buildStepGraph(spec(params(frozen)));
  const nodes = liveNodes(g);
  const fwd = nodes.find((n) => n.type === "MatMul" && n.inputs.some((v) => v?.name === "fc2.weight"))!;
  const h = fwd.inputs[0]!;
  return {
    names: [...g.nodes.flatMap((n) => n.outputs.map((o) => o.name)), ...g.outputs.map((o) => o.name)],
    users: nodes.filter((n) => n !== fwd && n.inputs.includes(h)),
  };
}

describe("step graph", () => {
  test("a frozen linear layer gets no weight gradient and no matmul on its transposed input", () => {
    const frozen = fc2WeightGradNodes(["fc2.weight", "fc2.bias"]);
    assert.ok(!frozen.names.includes("fc2.weight_grad"), "fc2.weight_grad exists");
    assert.deepEqual(frozen.users.map((n) => n.type), [], "nodes consume fc2's input besides the forward MatMul");
    // Control: trainable fc2 does get X^T dY, so the check above can fail.
    const trained = fc2WeightGradNodes([]);
    assert.ok(trained.names.includes("fc2.weight_grad"));
    assert.ok(trained.users.some((n) => n.type === "Transpose" || n.type === "MatMul"));
  });

  test("optimizer configs are validated with the field named", () => {
    assert.throws(() => createOptimizer({ kind: "adamw", betas: [0.9, 1], weightDecay: 0 }), /optimizer\.betas/);
    assert.throws(() => createOptimizer({ kind: "sgd", momentum: -1, weightDecay: 0 }), /optimizer\.momentum/);
    assert.throws(() => createOptimizer({ kind: "adam" } as never), /unknown optimizer kind "adam"; expected one of adamw, sgd/);
  });
});

describe("TrainSession", () => {
  test("plain SGD moves each parameter by -lr * its fetched gradient; frozen ones stay", async () => {
    const ps = params(["fc1.bias"]);
    const before = new Map(ps.list().map((p) => [p.name, p.data]));
    const s = await TrainSession.create(spec(ps, { optimizer: { kind: "sgd", weightDecay: 0 }, fetchGrads: ["fc1.weight", "fc2.bias"] }), { intraOpThreads: 1 });
    const lr = 0.3;
    const r = await s.step(data(), lr);
    await s.syncParams();
    for (const name of ["fc1.weight", "fc2.bias"]) {
      const g = r.grads[name]!, p0 = before.get(name)!, p1 = ps.get(name).data;
      assert.equal(g.length, p0.length);
      assert.ok(g.some((v) => v !== 0), `${name}: zero gradient`);
      p1.forEach((v, i) => assert.ok(Math.abs(v - (p0[i]! - lr * g[i]!)) < 1e-6, `${name}[${i}]`));
    }
    assert.equal(ps.get("fc1.bias").data, before.get("fc1.bias"));
    assert.equal(r.outputs.probs!.length, B * C);
    assert.ok(Math.abs(r.outputs.probs!.slice(0, C).reduce((a, b) => a + b, 0) - 1) < 1e-5);
    await s.release();
  });

  test("export then import resumes bit for bit", async () => {
    const feeds = data();
    const a = await TrainSession.create(spec(params()), { intraOpThreads: 1 });
    for (let i = 0; i < 3; i++) await a.step(feeds, 0.01);
    const saved = await a.exportState();
    assert.equal(saved.step, 3);
    assert.ok(saved.tensors["fc1.weight/exp_avg_sq"]!.some((v) => v > 0));
    const snapshot = Object.fromEntries(Object.entries(saved.tensors).map(([k, v]) => [k, v.slice()]));
    const tail = [(await a.step(feeds, 0.01)).loss, (await a.step(feeds, 0.005)).loss];
    await a.release();

    const b = await TrainSession.create(spec(params()), { intraOpThreads: 1 });
    b.importState({ step: 3, tensors: snapshot });
    assert.deepEqual([(await b.step(feeds, 0.01)).loss, (await b.step(feeds, 0.005)).loss], tail);
    assert.equal(b.steps, 5);
    assert.throws(() => b.importState({ step: 0, tensors: { ...snapshot, extra: new Float32Array(1) } }), /unknown tensors extra/);
    const { ["fc2.bias/exp_avg"]: _, ...missing } = snapshot;
    assert.throws(() => b.importState({ step: 0, tensors: missing }), /missing tensor "fc2.bias\/exp_avg"/);
    await b.release();
  });

  test("the eval graph sees the current trainable values and ignores labels", async () => {
    const feeds = data();
    const s = await TrainSession.create(spec(params()), { intraOpThreads: 1 });
    await s.step(feeds, 0.05);
    const ev = await s.evaluate(feeds);
    const next = await s.step(feeds, 0.05);
    ev.logits.forEach((v, i) => assert.ok(Math.abs(v - next.logits[i]!) < 1e-5, `logit ${i}: ${v} vs ${next.logits[i]}`));
    assert.ok(ev.outputs.probs);
    assert.equal(s.stats.stepSeconds.length, 2);
    assert.ok(s.stats.peakRssMiB() > 10);
    await s.release();
  });

  test("wrong feeds fail clearly", async () => {
    const s = await TrainSession.create(spec(params()), { intraOpThreads: 1 });
    const { x, labels } = data();
    await assert.rejects(s.step({ x }, 0.1), /missing feed "labels" \(int64 \[6\]\)/);
    await assert.rejects(s.step({ x, labels, y: x }, 0.1), /unknown feed "y"/);
    await assert.rejects(s.step({ x, labels, "fc1.weight": x }, 0.1), (e: Error) => e instanceof ConfigError && /state the session feeds itself/.test(e.message));
    await assert.rejects(s.step({ x, labels: new Int32Array(B) }, 0.1), /feed "labels": Int32Array/);
    await assert.rejects(s.step({ x, labels }, Number.NaN), /lr must be/);
    assert.equal(s.steps, 0);
    await s.release();
  });

  test("specs the session cannot train are refused at build time", () => {
    assert.throws(() => buildStepGraph(spec(params(), { fetchGrads: ["nope"] })), /fetchGrads names "nope"/);
    assert.throws(() => buildStepGraph(spec(params(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]))), /no trainable parameter/);
    assert.throws(() => buildStepGraph({ ...spec(params()), build: (g, b) => ({ logits: mlp(g, b, g.input("x", [B, D])) }) }), /returned no loss/);
  });
});
