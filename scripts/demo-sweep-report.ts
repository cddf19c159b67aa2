/**
 * @file The demo's four methods x 3 seeds on MNIST 5-9, N runs at a time, each in its own run folder
 * (run.json + log.jsonl + adapter/ as `snell train` writes them), then `snell report` on the folder.
 * The demo trains from in-memory tensors, which `snell train` cannot read, so this script stands in
 * for `snell sweep`'s local mode. Prints the wall time.
 *
 * Rerunning it trains only the runs without an adapter/ (failed or never started).
 *
 * Run: node --import tsx scripts/demo-sweep-report.ts [runs-dir] [--parallel 2] [--seeds 0,1,2] [--epochs 30] [--report-out FILE]
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { runCli } from "../src/cli/main.js";
import { DEMO_METHODS } from "../src/demo/methods.js";
import { runMethod, type RunMethodOptions } from "../src/demo/run-method.js";
import { DEMO_EPOCHS, DEMO_WEIGHTS } from "../src/demo/run.js";
import { setDefaultIntraOpThreads } from "../src/runtime/ort.js";

/** The task's name in the report (the "other" table). */
const TASK = "mnist-digits-5-9";

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : fallback;
}

/** Child mode: one method, one seed, one ORT thread (the parallel runs share the cores). */
async function child(label: string, optsJson: string): Promise<void> {
  setDefaultIntraOpThreads(1);
  const m = DEMO_METHODS.find((d) => d.label === label)!;
  const r = await runMethod(m, JSON.parse(optsJson) as RunMethodOptions);
  process.stdout.write(`${label} seed ${(JSON.parse(optsJson) as RunMethodOptions).seed}: best ${r.best.toFixed(2)}% last ${r.last.toFixed(2)}% (${r.seconds.toFixed(1)} s)\n`);
}

/** run.json in `snell train`'s layout, so `snell report` files the run under its task, method and seed. */
function writeRunJson(dir: string, m: (typeof DEMO_METHODS)[number], seed: number, epochs: number): void {
  const peft = m.peft as { method: string; rank?: number };
  const config = { method: peft.method, ...(peft.rank !== undefined ? { rank: peft.rank } : {}), lr: m.lr, weightDecay: m.weightDecay, seed, epochs, batchSize: 32, model: "demo-vit-mnist04", data: TASK };
  const spec = { datasetFormat: "idx", model: "demo-vit-mnist04", peft: m.peft, seed, data: TASK };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "run.json"), JSON.stringify({ format: "snell-ts/run/1", config, spec, source: "scripts/demo-sweep-report.ts" }, null, 2) + "\n");
}

function runOne(args: string[]): Promise<number> {
  return new Promise((done) => {
    const p = spawn(process.execPath, ["--import", import.meta.resolve("tsx"), fileURLToPath(import.meta.url), "--child", ...args], { stdio: ["ignore", "inherit", "inherit"] });
    p.on("close", (code) => done(code ?? 1));
  });
}

async function main(): Promise<void> {
  const root = path.resolve(process.argv[2] && !process.argv[2].startsWith("--") ? process.argv[2] : "snell-demo-sweep");
  const parallel = Number(flag("--parallel", "2"));
  const seeds = flag("--seeds", "0,1,2").split(",").map(Number);
  const epochs = Number(flag("--epochs", String(DEMO_EPOCHS)));
  const jobs = DEMO_METHODS.flatMap((m) => seeds.map((seed) => ({ m, seed })));
  const t0 = performance.now();
  let next = 0, trained = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { m, seed } = jobs[next++]!;
      const dir = path.join(root, `${TASK}-${m.label.replace(/\s+/g, "-").toLowerCase()}-seed${seed}`);
      // A rerun trains only what has no adapter/ yet (as `snell sweep` does), from the start.
      if (fs.existsSync(path.join(dir, "adapter"))) continue;
      writeRunJson(dir, m, seed, epochs);
      trained++;
      const opts: RunMethodOptions = { weights: DEMO_WEIGHTS, epochs, batch: 32, seed, outDir: dir };
      const code = await runOne([m.label, JSON.stringify(opts)]);
      if (code !== 0) console.error(`${m.label} seed ${seed}: exit ${code} (the report shows it as failed)`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const wall = (performance.now() - t0) / 1000;
  console.log(`${trained} of ${jobs.length} runs trained (the others had finished), ${parallel} at a time: wall ${wall.toFixed(0)} s (${(wall / 60).toFixed(1)} min)`);
  const out = flag("--report-out", "");
  process.exitCode = await runCli(["report", root, "--metric", "best", ...(out ? ["--out", out, "--charts", path.dirname(path.resolve(out))] : [])]);
}

if (process.argv[2] === "--child") await child(process.argv[3]!, process.argv[4]!);
else await main();
