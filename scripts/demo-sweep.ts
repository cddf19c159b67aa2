/**
 * @file How the demo's learning rates were chosen: for each method, train on train800 and score on
 * val200 (never the test images) over a small grid; prints the best lr per method.
 * Run: node --import tsx scripts/demo-sweep.ts [epochs] [method label] [comma-separated lrs]
 */
import { DEMO_METHODS } from "../src/demo/methods.js";
import { runMethod } from "../src/demo/run-method.js";
import { DEMO_WEIGHTS } from "../src/demo/run.js";

const GRID: Record<string, number[]> = {
  "linear probe": [1e-2, 3e-2, 1e-1],
  "LoRA-8": [3e-3, 6e-3, 1e-2],
  "SNELL-8": [1e-2, 3e-2, 6e-2],
  "full fine-tuning": [1e-4, 3e-4, 1e-3],
};
const epochs = Number(process.argv[2] ?? 30);
const only = process.argv[3];
for (const m of DEMO_METHODS.filter((d) => !only || d.label === only)) {
  const scores: string[] = [];
  let best = { lr: 0, val: -1 };
  for (const lr of (process.argv[4] ? process.argv[4].split(",").map(Number) : GRID[m.label]) ?? [m.lr]) {
    const r = await runMethod({ ...m, lr }, { weights: DEMO_WEIGHTS, epochs, batch: 32, seed: 0, validation: true });
    scores.push(`lr ${lr}: val ${r.last.toFixed(1)}%`);
    if (r.last > best.val) best = { lr, val: r.last };
  }
  console.log(`${m.label}: ${scores.join(", ")} -> lr ${best.lr}`);
}
