/**
 * @file One engine-bench configuration in its own process, so that peak RSS (getrusage maxRSS) belongs to
 * that configuration alone: builds a random-weight ViT with adapters, compiles the training step, times
 * `--steps` steps after one warm-up, and prints one JSON line. Run by bench/engine.ts; usable alone:
 * node --import tsx bench/child.ts --model vit_s --method lora [--batch 8] [--steps 3] [--threads 2]
 * [--rank 8] [--sparsity 0.9] [--snell-regularisers] [--backbone-precision fp32|int8] [--int8-fold 0|1|int8] [--device cpu|webgpu|cuda] [--thresholds] [--profile PREFIX] [--arena 0|1] [--pattern 0|1] [--spin 0|1] [--prepack 0|1] [--weights graph|inputs] [--opt disabled|basic|extended|all] [--gelu plain] [--recompute 0] [--rss-trace]
 */
import { availableParallelism } from "node:os";
import { ConfigError, SnellError } from "../src/errors.js";
import { GraphBuilder } from "../src/ir/builder.js";
import type { Value } from "../src/ir/value.js";
import { parseBackbonePrecision } from "../src/models/backbone-precision.js";
import { backboneOf, resolveVariant } from "../src/models/registry.js";
import { applyAdapters } from "../src/peft/apply.js";
import { int8Fold } from "../src/peft/snell/int8-fold.js";
import { SNELL_SEED_INPUT } from "../src/peft/snell/method.js";
import { thresholdOf } from "../src/peft/snell/threshold-graph.js";
import { Rng } from "../src/random.js";
import { CompiledGraph } from "../src/runtime/compiled.js";
import { parseDevice } from "../src/runtime/device.js";
import { currentRssMiB, peakRssMiB } from "../src/runtime/memory.js";
import { TrainSession } from "../src/train/step-session.js";
import { classifierStep } from "./classifier-step.js";

/** Bench model names (the reference script's) to timm architectures; any backbone in models/registry.ts. */
export const ARCH = {
  vit_ti: "vit_tiny_patch16_224", vit_s: "vit_small_patch16_224", vit_b: "vit_base_patch16_224", swin_b: "swin_base_patch4_window7_224", convnext_b: "convnext_base",
  // Memory figures only (issue 13: ViT-L/16 and ViT-H/14 SNELL-8 batch 8 peak RSS in both precisions).
  vit_l: "vit_large_patch16_224", vit_h: "vit_huge_patch14_224",
} as const;

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const model = opt("model", "vit_s") as keyof typeof ARCH;
const method = opt("method", "lora");
const batch = Number(opt("batch", "8"));
const steps = Number(opt("steps", "3"));
const threads = Number(opt("threads", String(availableParallelism())));
const rank = Number(opt("rank", "8"));
const sparsity = Number(opt("sparsity", "0.9"));
const device = parseDevice(opt("device", "cpu"));
const precision = parseBackbonePrecision(opt("backbone-precision", "fp32"));

const profile = opt("profile", "");
/** ORT memory arena: unset keeps the engine's default. */
const arena = opt("arena", "");
const pattern = opt("pattern", "");
const spin = opt("spin", "");
const prepack = opt("prepack", "");
const weights = opt("weights", "");
/** ORT graph optimisation level: unset keeps the engine's default. */
const optLevel = opt("opt", "");
/** "plain": GELU as plain ops differentiated op by op (before the recomputing customVjp), for comparison. */
const gelu = opt("gelu", "");
// "0": keep SNELL's dW from the forward instead of recomputing it (for comparison).
if (opt("recompute", "") === "0") GraphBuilder.prototype.recompute = (v: Value) => v;
// --int8-fold 0: SNELL over int8 adds a float32 x dW to the int8 product instead of folding (snell/int8-fold.ts);
// int8: the fold's forward requantized too.
const int8FoldOpt = opt("int8-fold", "");
if (int8FoldOpt === "0") int8Fold.enabled = false;
if (int8FoldOpt === "int8") int8Fold.int8Forward = true;
if (gelu === "plain") {
  GraphBuilder.prototype.gelu = function (this: GraphBuilder, x: Value): Value {
    const dt = x.dtype;
    return this.Mul(this.Mul(x, this.Add(this.Erf(this.Mul(x, this.scalar(Math.SQRT1_2, dt))), this.scalar(1, dt))), this.scalar(0.5, dt));
  };
}
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** The reference's adapter settings: no dropout, no drop-path, LoRA scale 1 (torch's Lora has none). */
function peftConfig(): Record<string, unknown> {
  if (method === "lora") return { method: "lora", rank, alpha: rank, dropout: 0 };
  if (method === "snell") {
    // --snell-regularisers: the authors' dropout 0.1 and drop-path 0.1 (then the frozen W0 is not folded into SNELL's GEMM).
    const reg = argv.includes("--snell-regularisers") ? 0.1 : 0;
    return { method: "snell", rank, sparsity, dropout: reg, dropPath: reg };
  }
  throw new ConfigError(`bench/child: unknown --method "${method}"; known: lora, snell`);
}

/**
 * Median seconds of computing the thresholds of every adapted matrix (`shapes`: q, k, v, proj, fc1, fc2
 * per block) alone, through the same thresholdOf the SNELL step uses, on |K|-like data.
 */
async function thresholdSeconds(shapes: ReadonlyArray<readonly [number, number]>): Promise<number> {
  const g = new GraphBuilder("thresholds");
  shapes.forEach(([r, c], i) => {
    const m = g.input(`m${i}`, [r, c]);
    const { t } = g.scope(`m${i}`, () => thresholdOf(g, m, sparsity));
    g.output(t as Value, `t${i}`);
  });
  const compiled = await CompiledGraph.compile(g, {
    device, intraOpThreads: threads, ...(profile ? { profilePrefix: profile } : {}), ...(arena ? { memArena: arena === "1" } : {}), ...(pattern ? { memPattern: pattern === "1" } : {}),
    ...(spin ? { spinning: spin === "1" } : {}), ...(prepack ? { prepacking: prepack === "1" } : {}),
    ...(weights ? { weights: weights as "graph" | "inputs" } : {}),
  });
  const rng = new Rng(1);
  const feeds: Record<string, Float32Array> = {};
  shapes.forEach(([r, c], i) => {
    const a = new Float32Array(r * c);
    for (let k = 0; k < a.length; k++) a[k] = Math.abs(rng.normal()) * 0.01;
    feeds[`m${i}`] = a;
  });
  const times: number[] = [];
  for (let i = 0; i < Math.max(steps, 3) + 1; i++) {
    const t0 = performance.now();
    await compiled.run(feeds);
    if (i) times.push((performance.now() - t0) / 1000);
  }
  await compiled.release();
  return median(times);
}

async function main(): Promise<void> {
  if (!Object.prototype.hasOwnProperty.call(ARCH, model)) throw new ConfigError(`bench/child: unknown --model "${model}"; known: ${Object.keys(ARCH).join(", ")}`);
  const cfg = resolveVariant(ARCH[model], { numClasses: 10 }).config;
  const rng = new Rng(0);
  // The float32 store is garbage once applyAdapters has quantized it (int8): nothing here keeps it.
  const pm = applyAdapters({ cfg, params: backboneOf(cfg).createParams(cfg, rng) }, peftConfig(), { seed: 0, backbonePrecision: precision });
  const rssBuilt = currentRssMiB();
  const tc = performance.now();
  const session = await TrainSession.create(classifierStep(pm, batch), {
    device, intraOpThreads: threads, ...(profile ? { profilePrefix: profile } : {}), ...(arena ? { memArena: arena === "1" } : {}), ...(pattern ? { memPattern: pattern === "1" } : {}),
    ...(spin ? { spinning: spin === "1" } : {}), ...(prepack ? { prepacking: prepack === "1" } : {}),
    ...(weights ? { weights: weights as "graph" | "inputs" } : {}),
    ...(optLevel ? { optimization: optLevel as "disabled" | "basic" | "extended" | "all" } : {}),
  });
  const compileS = (performance.now() - tc) / 1000;
  const rssCompiled = currentRssMiB();
  // JS heap after compilation: the builder's graph and feeds, apart from ORT's native session memory.
  (globalThis as { gc?: () => void }).gc?.(); // node --expose-gc: live heap only
  const jsHeapCompiled = process.memoryUsage().heapUsed / 2 ** 20;

  const images = new Float32Array(batch * cfg.inChans * cfg.imgSize * cfg.imgSize);
  for (let i = 0; i < images.length; i++) images[i] = rng.normal();
  const labels = BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % cfg.numClasses));
  const losses: number[] = [];
  // A worker samples RSS every 20 ms (the step blocks the main thread) and writes it to stderr itself.
  if (argv.includes("--rss-trace")) {
    const { Worker } = await import("node:worker_threads");
    new Worker(`const fs = require("node:fs"); const t0 = Date.now();
      setInterval(() => fs.writeSync(2, \`rss \${Date.now() - t0} \${Math.round(process.memoryUsage.rss() / 1048576)}\\n\`), 20);`, { eval: true }).unref();
  }
  let cpu0 = process.cpuUsage(), faults0 = 0;
  for (let i = 0; i < steps + 1; i++) {
    if (i === 1) {
      cpu0 = process.cpuUsage();
      faults0 = process.resourceUsage().minorPageFault;
    }
    const seed: Record<string, Int32Array> = argv.includes("--snell-regularisers") && method === "snell" ? { [SNELL_SEED_INPUT]: Int32Array.of(i + 1) } : {};
    losses.push((await session.step({ images, labels, ...seed }, 1e-3)).loss);
  }
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6 / steps;
  // Minor page faults per step: fresh pages the allocator had to map (first-touch cost), load-independent.
  const faults = (process.resourceUsage().minorPageFault - faults0) / steps;
  const stepS = median(session.stats.stepSeconds.slice(1));
  const peak = peakRssMiB();
  // TrainSession keeps its compiled graph private; the profile is a bench-only look inside.
  if (profile) (session as unknown as { graph: CompiledGraph }).graph.session.endProfiling();
  await session.release();

  const out: Record<string, unknown> = {
    engine: "snell-ts", device, backbone_precision: precision, ...(precision === "int8" && method === "snell" ? { int8_fold: !int8Fold.enabled ? "off" : int8Fold.int8Forward ? "int8-forward" : "fp32-forward" } : {}), model, method, rank, ...(method === "snell" ? { sparsity } : {}), batch, threads,
    step_s: stepS, cpu_s: cpuS, page_faults: faults, first_step_s: session.stats.stepSeconds[0], compile_s: compileS,
    peak_rss_mib: peak, rss_built_mib: rssBuilt, rss_compiled_mib: rssCompiled, js_heap_compiled_mib: jsHeapCompiled,
    trainable: pm.trainableCounts().trainable, losses,
  };
  if (argv.includes("--thresholds")) {
    const shapes = pm.sites.map((s) => [s.nOut, s.nIn] as const);
    const ts = await thresholdSeconds(shapes);
    out.thresholds_s = ts;
    out.matrices = shapes.length;
    out.threshold_share = ts / stepS;
  }
  console.log(JSON.stringify(out));
}

await main().catch((e: unknown) => {
  // A bad flag or a missing device provider is one line (what bench/engine.ts shows), not a stack.
  if (!(e instanceof SnellError)) throw e;
  console.error(`${e.name}: ${e.message}`);
  process.exit(1);
});
