/**
 * @file How far 20 demo steps drift from last-bit differences alone, on Node's CPU: each method is
 * trained twice with the page's settings (batch 32, seed 0), once on the digits as they are and once on
 * digits scaled by (1 + 1e-6 u), u uniform in [-1, 1] — a perturbation of the size float32 rounding
 * differences between backends make. The page's WebGPU-vs-CPU differences (README "In the browser") are
 * read against this: a method whose own CPU runs part by that much under a 1e-6 nudge cannot be expected
 * to track another backend's arithmetic more closely.
 * node --import tsx scripts/web-drift.ts [--steps 20] [--methods "LoRA-8,SNELL-8"]
 */
import * as fs from "node:fs";
import { DEMO_METHODS } from "../src/demo/methods.js";
import { DEMO_WEIGHTS } from "../src/demo/run.js";
import { downstreamTask } from "../src/demo/mnist-tasks.js";
import { Rng } from "../src/random.js";
import { fineTune } from "../src/web/fine-tune.js";

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const steps = Number(opt("steps", "20"));
const eps = Number(opt("eps", "1e-6"));
const names = opt("methods", "LoRA-8,SNELL-8").split(",");
const weights = fs.readFileSync(DEMO_WEIGHTS);
const task = downstreamTask(500);
const rng = new Rng(1);
const nudged = { ...task.train, images: task.train.images.map((v) => v * (1 + eps * (2 * rng.uniform() - 1))) };

for (const name of names) {
  const method = DEMO_METHODS.find((m) => m.label === name);
  if (!method) throw new Error(`unknown method "${name}"; known: ${DEMO_METHODS.map((m) => m.label).join(", ")}`);
  const run = (train: typeof task.train) => fineTune({ weights, method, train, test: task.test, numClasses: 5, epochs: 1, batchSize: 32, seed: 0, maxSteps: steps });
  const a = await run(task.train), b = await run(nudged);
  const rel = a.losses.map((l, i) => Math.abs(l - b.losses[i]!) / Math.abs(l));
  const within = rel.findIndex((r) => r > 1e-4);
  console.log(`${name}: max relative loss difference ${Math.max(...rel).toExponential(2)} over ${steps} steps; ` +
    `within 1e-4 for ${within < 0 ? steps : within} steps; at steps 2/6/12/20: ${[1, 5, 11, 19].map((i) => rel[i]?.toExponential(1)).join(" ")}; ` +
    `top-1 ${a.top1}% vs ${b.top1}%`);
}
