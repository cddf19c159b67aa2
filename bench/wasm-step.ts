/**
 * @file One ViT training step on onnxruntime-web's wasm provider in plain Node: time per step and the
 * wasm heap's high-water mark, which must stay under wasm32's 4 GiB. The library is the same; the
 * `snell-onnxruntime-web` condition makes `#onnxruntime` resolve to onnxruntime-web:
 *
 * node --conditions=snell-onnxruntime-web --import tsx bench/wasm-step.ts [--model vit_b] [--method snell]
 *   [--batch 8] [--steps 2] [--threads 1] [--rank 8] [--sparsity 0.9] [--weights inputs|graph]
 *
 * The heap: ORT's wasm module keeps everything (weights, activations, arena) in one WebAssembly.Memory,
 * which only grows; its buffer's byteLength after the steps is therefore the high-water mark. The
 * Memory is caught as it is made (the threaded build constructs it in JS) or from the instance's exports.
 */
import { ConfigError } from "../src/errors.js";
import { backboneOf, resolveVariant } from "../src/models/registry.js";
import { applyAdapters } from "../src/peft/apply.js";
import { Rng } from "../src/random.js";
import { ORT_PACKAGE, configureWasm } from "../src/runtime/ort.js";
import { TrainSession } from "../src/train/step-session.js";
import { classifierStep } from "./classifier-step.js";

/** bench/child.ts's model names (importing it would run its bench). */
const ARCH = { vit_ti: "vit_tiny_patch16_224", vit_s: "vit_small_patch16_224", vit_b: "vit_base_patch16_224" } as const;

const memories: WebAssembly.Memory[] = [];
/** Records every WebAssembly.Memory ORT makes or exports, to read its size after the steps. */
function watchWasmMemory(): void {
  const W = WebAssembly as unknown as Record<string, unknown>;
  const Memory = WebAssembly.Memory;
  W.Memory = new Proxy(Memory, { construct: (T, args) => { const m = Reflect.construct(T, args) as WebAssembly.Memory; memories.push(m); return m; } });
  for (const fn of ["instantiate", "instantiateStreaming"] as const) {
    const orig = (W[fn] as (...a: unknown[]) => Promise<unknown>).bind(WebAssembly);
    W[fn] = async (...a: unknown[]) => {
      const r = await orig(...a) as { instance?: WebAssembly.Instance } & WebAssembly.Instance;
      const exports = (r.instance ?? r).exports ?? {};
      for (const v of Object.values(exports)) if (v instanceof Memory) memories.push(v);
      return r;
    };
  }
}
watchWasmMemory();

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const model = opt("model", "vit_b") as keyof typeof ARCH;
const method = opt("method", "snell");
const batch = Number(opt("batch", "8"));
const steps = Number(opt("steps", "2"));
const threads = Number(opt("threads", "1"));
const rank = Number(opt("rank", "8"));
const sparsity = Number(opt("sparsity", "0.9"));
const weights = opt("weights", "inputs") as "inputs" | "graph";
const MiB = 2 ** 20;
const heapMiB = () => Math.max(0, ...[...new Set(memories)].map((m) => m.buffer.byteLength)) / MiB;

async function main(): Promise<void> {
  if (ORT_PACKAGE !== "web") throw new ConfigError("bench/wasm-step: run it with `node --conditions=snell-onnxruntime-web --import tsx bench/wasm-step.ts` (onnxruntime-web)");
  configureWasm({ numThreads: threads });
  const cfg = resolveVariant(ARCH[model], { numClasses: 10 }).config;
  const rng = new Rng(0);
  const peft = method === "lora" ? { method: "lora", rank, alpha: rank, dropout: 0 } : { method: "snell", rank, sparsity, dropout: 0, dropPath: 0 };
  const pm = applyAdapters({ cfg, params: backboneOf(cfg).createParams(cfg, rng) }, peft, { seed: 0 });
  const tc = performance.now();
  const session = await TrainSession.create(classifierStep(pm, batch), { weights });
  const compileS = (performance.now() - tc) / 1000;
  const heapCompiled = heapMiB();
  const images = new Float32Array(batch * cfg.inChans * cfg.imgSize * cfg.imgSize).map(() => rng.normal());
  const labels = BigInt64Array.from({ length: batch }, (_, i) => BigInt(i % cfg.numClasses));
  const losses: number[] = [];
  // CPU seconds per step as well: on a shared machine wall time includes waiting for a core.
  const cpuS: number[] = [];
  for (let i = 0; i < steps; i++) {
    const c0 = process.cpuUsage();
    losses.push((await session.step({ images, labels }, 1e-3)).loss);
    const c = process.cpuUsage(c0);
    cpuS.push((c.user + c.system) / 1e6);
  }
  const out = {
    engine: "snell-ts", ort: "onnxruntime-web wasm", model, method, rank, ...(method === "snell" ? { sparsity } : {}), batch, threads, weights,
    step_s: session.stats.stepSeconds, cpu_s: cpuS, compile_s: compileS, wasm_heap_compiled_mib: heapCompiled, wasm_heap_peak_mib: heapMiB(),
    wasm_memories: new Set(memories).size, rss_peak_mib: process.resourceUsage().maxRSS / 1024, losses,
  };
  await session.release();
  console.log(JSON.stringify(out));
}

await main();
