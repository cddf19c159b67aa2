/** @file The only importer of onnxruntime-node: tensor conversion and session creation. */
import * as ort from "onnxruntime-node";
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
  const { availableParallelism } = await import("node:os");
  const device = parseDevice(opts.device ?? "cpu");
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders: executionProviders(device),
      intraOpNumThreads: opts.intraOpThreads ?? defaultIntraOpThreads ?? availableParallelism(),
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
    });
  } catch (cause) {
    const missing = providerError(device, cause);
    if (missing) throw missing;
    throw new RuntimeError(`ONNX Runtime refused the graph: ${(cause as Error).message}`, { cause });
  }
}
