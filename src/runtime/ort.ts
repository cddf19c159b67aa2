/**
 * @file The only importer of ONNX Runtime: tensor conversion and session creation. `#onnxruntime` is
 * onnxruntime-node under Node and onnxruntime-web elsewhere (package.json "imports"; both export
 * onnxruntime-common's API); `node --conditions=snell-onnxruntime-web` runs the web one (wasm) in Node.
 */
import * as ort from "#onnxruntime";
import { platform } from "#platform";
import { RuntimeError } from "../errors.js";
import type { DType, TypedArray } from "../ir/dtype.js";
import { executionProviders, parseDevice, providerError, type Device } from "./device.js";

export { ort };

const ORT_TYPE: Record<DType, ort.Tensor.Type> = {
  float32: "float32", float64: "float64", int64: "int64", int32: "int32", bool: "bool", uint8: "uint8", int8: "int8",
};

export function toTensor(data: TypedArray, shape: readonly number[], dtype: DType): ort.Tensor {
  return new ort.Tensor(ORT_TYPE[dtype], data as never, shape as number[]);
}

export interface SessionOptions {
  /** Threads inside one op; defaults to all cores. */
  intraOpThreads?: number;
  /** ORT graph optimisation level; "all" fuses (e.g. GELU, LayerNorm, MatMul+Transpose). */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /** ORT's CPU memory arena: faster allocation, higher resident memory. */
  memArena?: boolean;
  /**
   * ORT's memory pattern: one planned block per run for all activations. Off by default: without the
   * arena that block is freshly mapped every run, so every activation page faults again (ViT-S LoRA
   * training step: 147k -> 93k minor faults per step, peak RSS 1076 -> 865 MiB, CPU -5%).
   */
  memPattern?: boolean;
  /**
   * Let idle intra-op threads spin-wait for work (ORT's default) instead of sleeping. Off by default:
   * on a shared machine spinning burns the cores other work needs (ViT-S LoRA step: CPU 6.2 -> 4.7 s
   * per step, wall time no worse), and PyTorch's reference runs with OMP_WAIT_POLICY=PASSIVE too.
   */
  spinning?: boolean;
  /** Let ORT pre-pack constant MatMul/Gemm weights (a packed copy per consumer) at session creation. */
  prepacking?: boolean;
  /** Write ORT's per-node profile (Chrome trace JSON) to "<prefix>_<date>.json"; call session.endProfiling() to flush. */
  profilePrefix?: string;
  /** Where the graph runs (default "cpu"); a provider that cannot start is a ConfigError naming the fix. */
  device?: Device;
  /**
   * Outputs to leave on the device ("gpu-buffer") instead of copying them to host memory: a training
   * step's updated state, fed straight back as the next step's inputs (read it with runtime/read-back.ts).
   */
  outputLocation?: Readonly<Record<string, "cpu" | "gpu-buffer">>;
}

/** Which ONNX Runtime package `#onnxruntime` resolved to: "node" (onnxruntime-node) or "web" (onnxruntime-web). */
export const ORT_PACKAGE: "node" | "web" = (ort.env.versions as { web?: string }).web ? "web" : "node";

/** Settings of onnxruntime-web's wasm backend; they apply to sessions created after the first call only before any session exists. */
export interface WasmOptions {
  /** Worker threads of the wasm backend (multi-threaded wasm in a browser needs a cross-origin isolated page). */
  numThreads?: number;
  /** Where the .wasm/.mjs files are served from (a URL prefix), when the bundler did not embed them. */
  wasmPaths?: string;
}

/**
 * Sets onnxruntime-web's wasm options (ort.env.wasm); does nothing under onnxruntime-node.
 *
 * @example
 * configureWasm({ numThreads: 4, wasmPaths: "/ort/" }); // before the first session
 */
export function configureWasm({ numThreads, wasmPaths }: WasmOptions): void {
  if (ORT_PACKAGE !== "web") return;
  if (numThreads !== undefined) ort.env.wasm.numThreads = numThreads;
  if (wasmPaths !== undefined) ort.env.wasm.wasmPaths = wasmPaths;
}

/** Intra-op threads of sessions that do not set their own (the CLI's --threads); undefined: all cores. */
let defaultIntraOpThreads: number | undefined;

/**
 * Sets the thread count every later session uses unless its options say otherwise. Results can differ
 * in the last bits between thread counts (reductions split differently), not between runs of one count.
 */
export function setDefaultIntraOpThreads(n: number | undefined): void {
  defaultIntraOpThreads = n;
}

export async function createSession(bytes: Uint8Array, opts: SessionOptions = {}): Promise<ort.InferenceSession> {
  const device = parseDevice(opts.device ?? "cpu");
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders: executionProviders(device),
      intraOpNumThreads: opts.intraOpThreads ?? defaultIntraOpThreads ?? platform.availableParallelism(),
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: opts.optimization ?? "all",
      enableCpuMemArena: opts.memArena ?? false,
      enableMemPattern: opts.memPattern ?? false,
      extra: {
        session: {
          intra_op: { allow_spinning: opts.spinning ?? false ? "1" : "0" },
          disable_prepacking: opts.prepacking ?? true ? "0" : "1",
        },
      },
      ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
      ...(opts.outputLocation ? { preferredOutputLocation: { ...opts.outputLocation } } : {}),
    });
  } catch (cause) {
    const missing = providerError(device, cause);
    if (missing) throw missing;
    throw new RuntimeError(`ONNX Runtime refused the graph: ${(cause as Error).message}`, { cause });
  }
}
