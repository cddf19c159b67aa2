/** @file Loss curves of an MLP and a 1-block transformer trained in the step graph match PyTorch's (fixtures from scripts/torch/engine_parity.py). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { TrainSession } from "../../src/train/step-session.js";
import { crossEntropy, loadFixture, mlp, storeOf, transformer } from "./fixture-models.js";

const TOL = 1e-4;

for (const model of ["mlp", "transformer"] as const) {
  describe(`${model} parity with PyTorch`, () => {
    const f = loadFixture(model);
    for (const opt of ["adamw", "sgd"] as const) {
      test(`${opt}: ${f.steps} steps follow torch's loss curve and final logits within ${TOL}`, async (t) => {
        const run = f.runs[opt];
        const s = await TrainSession.create({
          params: storeOf(f),
          optimizer: run.optimizer,
          build: (g, b) => {
            const x = g.input("x", f.x.shape);
            const labels = g.input("labels", [f.labels.length], "int64");
            const logits = model === "mlp" ? mlp(g, b, x) : transformer(g, b, x);
            return { logits, loss: crossEntropy(g, logits, labels) };
          },
        }, { intraOpThreads: 1 });
        const feeds = { x: Float32Array.from(f.x.data), labels: BigInt64Array.from(f.labels.map(BigInt)) };
        const losses: number[] = [];
        for (let i = 0; i < f.steps; i++) losses.push((await s.step(feeds, run.lrs[i]!)).loss);
        const drift = Math.max(...losses.map((l, i) => Math.abs(l - run.losses[i]!)));
        const { logits } = await s.evaluate(feeds);
        const logitDrift = Math.max(...Array.from(logits, (v, i) => Math.abs(v - run.finalLogits[i]!)));
        await s.release();
        t.diagnostic(`${model}/${opt}: max loss drift ${drift.toExponential(2)}, final logits drift ${logitDrift.toExponential(2)}`);
        assert.ok(drift < TOL, `max |loss - torch| = ${drift} over ${f.steps} steps (ours ${losses.map((l) => l.toFixed(6)).join(", ")})`);
        assert.ok(losses[f.steps - 1]! < losses[0]!, "loss went down");
        assert.ok(logitDrift < TOL, `final logits differ from torch by ${logitDrift}`);
      });
    }
  });
}
