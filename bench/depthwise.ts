/**
 * @file Does ORT run ConvNeXt's frozen 7x7 depthwise convolutions faster when their weights are graph
 * initializers (constant: ORT may prepack them and pick its NCHWc / depthwise kernels, and folds the
 * backward's flipped kernel) than when they are fed as inputs (as trainable weights are)? Times one
 * ConvNeXt-B block's conv_dw, forward plus input gradient, at each stage's size (batch 8, 224 px).
 * node --import tsx bench/depthwise.ts [--batch 8] [--threads 2] [--reps 5]
 */
import { availableParallelism } from "node:os";
import { grad } from "../src/autodiff/grad.js";
import { GraphBuilder } from "../src/ir/builder.js";
import { Rng } from "../src/random.js";
import { CompiledGraph } from "../src/runtime/compiled.js";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const batch = opt("batch", 8), threads = opt("threads", availableParallelism()), reps = opt("reps", 5);
/** ConvNeXt-B stages at 224: channels and side. */
const STAGES = [[128, 56], [256, 28], [512, 14], [1024, 7]] as const;

async function time(C: number, S: number, weights: "initializer" | "input", backward: boolean): Promise<number> {
  const rng = new Rng(1);
  const wData = Float32Array.from({ length: C * 49 }, () => rng.normal() * 0.02);
  const g = new GraphBuilder();
  const x = g.input("x", [batch, C, S, S]);
  const w = weights === "initializer" ? g.initializer("w", [C, 1, 7, 7], wData) : g.input("w", [C, 1, 7, 7]);
  const y = g.Conv(x, w, null, { pads: [3, 3, 3, 3], group: C });
  const loss = g.ReduceSum(y, [0, 1, 2, 3], 0);
  g.output(loss, "loss");
  if (backward) g.output(grad(g, loss, [x])[0]!);
  const c = await CompiledGraph.compile(g, { intraOpThreads: threads });
  const feeds = { x: Float32Array.from({ length: batch * C * S * S }, () => rng.normal()), ...(weights === "input" ? { w: wData } : {}) };
  await c.run(feeds);
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await c.run(feeds);
    ts.push(performance.now() - t0);
  }
  await c.release();
  return ts.sort((a, b) => a - b)[reps >> 1]!;
}

console.log(`depthwise 7x7, batch ${batch}, ${threads} threads, median of ${reps} (ms)`);
console.log("stage  C     side  fwd init  fwd input  fwd+dx init  fwd+dx input");
for (const [i, [C, S]] of STAGES.entries()) {
  const r = [await time(C, S, "initializer", false), await time(C, S, "input", false), await time(C, S, "initializer", true), await time(C, S, "input", true)];
  console.log(`${i}      ${String(C).padEnd(5)} ${String(S).padEnd(5)} ${r.map((v) => v.toFixed(1).padStart(9)).join("  ")}`);
}
