/**
 * @file Devices a session runs on: the ONNX Runtime execution provider behind each name, and the one
 * ConfigError (naming the fix) when that provider cannot start. No silent fallback: a session asked for
 * a GPU either gets it or fails.
 */
import { ConfigError, unknownName } from "../errors.js";

export const DEVICES = ["cpu", "webgpu", "cuda"] as const;
export type Device = (typeof DEVICES)[number];

/** An ORT execution provider: its name, or its name with options. */
export type ProviderConfig = string | { name: string; deviceId?: number };

/** The command that installs onnxruntime-node's CUDA provider (not in the default package). */
export const CUDA_INSTALL = "ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node";

/** Checks a device name from a flag or an untyped caller. */
export function parseDevice(name: string): Device {
  if ((DEVICES as readonly string[]).includes(name)) return name as Device;
  throw unknownName("device", name, DEVICES);
}

/**
 * The providers for `device`, only that one: ORT still runs nodes the GPU provider has no kernel for
 * on its CPU provider (that placement is per node and shows in ORT's verbose log), but a provider that
 * fails to start fails the session.
 */
export function executionProviders(device: Device): ProviderConfig[] {
  switch (device) {
    case "cpu": return ["cpu"];
    case "webgpu": return ["webgpu"];
    case "cuda": return [{ name: "cuda", deviceId: 0 }];
  }
}

// What ORT says when a provider cannot start (seen with onnxruntime-node 1.30 on a machine without a
// GPU: "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library", and
// "Failed to get a WebGPU adapter: No supported adapters" when Dawn finds no Vulkan driver).
const CUDA_MISSING = /AppendExecutionProvider_Cuda|providers_cuda|providers_shared|cudnn|libcu\w*\.so|CUDA driver|no CUDA-capable/i;
const WEBGPU_MISSING = /WebGPU adapter|webgpu_context|RequestAdapter|Vulkan/i;

const firstLine = (s: string) => s.split("\n").find((l) => l.trim())?.trim() ?? s;

/** The ConfigError for ORT's failure `cause` when it means `device`'s provider is missing; else null. */
export function providerError(device: Device, cause: unknown): ConfigError | null {
  const message = cause instanceof Error ? cause.message : String(cause);
  const why = firstLine(message).replace(/^.*?(Failed to get a WebGPU adapter)/, "$1");
  if (device === "cuda" && CUDA_MISSING.test(message)) {
    return new ConfigError(`device "cuda": ONNX Runtime's CUDA provider cannot be loaded (${why}); install it with ` +
      `\`${CUDA_INSTALL}\` (needs network access, an NVIDIA driver, CUDA 12 and cuDNN 9), or use device "cpu"`, { cause });
  }
  if (device === "webgpu" && WEBGPU_MISSING.test(message)) {
    return new ConfigError(`device "webgpu": no WebGPU adapter (${why}); on Linux onnxruntime-node's WebGPU runs on ` +
      `Vulkan: install a Vulkan loader and driver (Debian/Ubuntu: libvulkan1 with mesa-vulkan-drivers or the GPU vendor's driver), or use device "cpu"`, { cause });
  }
  return null;
}
