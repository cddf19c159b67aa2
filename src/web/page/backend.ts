/**
 * @file Which ONNX Runtime Web backend the page trains on: WebGPU where `navigator.gpu` gives an
 * adapter, wasm otherwise; `?backend=webgpu|wasm` forces one (tests). Also points ORT at the .wasm
 * files `snell web` serves.
 */
import { ort } from "../../runtime/ort.js";
import type { Device } from "../../runtime/device.js";

export type WebBackend = "webgpu" | "wasm";

export interface BackendChoice {
  backend: WebBackend;
  /** The runtime device the sessions ask for ("cpu" is onnxruntime-web's wasm backend). */
  device: Device;
  why: string;
}

interface GpuLike { requestAdapter(): Promise<unknown | null> }

async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/** Configures ORT's wasm files and threads (threads need the cross-origin isolation `snell web` sends). */
export function configureOrt(): void {
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  ort.env.wasm.numThreads = crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
}

/** Picks the backend; a forced "webgpu" without an adapter is an error, never a silent fallback. */
export async function chooseBackend(forced: string | null): Promise<BackendChoice> {
  if (forced !== null && forced !== "webgpu" && forced !== "wasm") throw new Error(`?backend must be webgpu or wasm, got "${forced}"`);
  if (forced === "wasm") return { backend: "wasm", device: "cpu", why: "forced by ?backend=wasm" };
  const gpu = await hasWebGpu();
  if (forced === "webgpu" && !gpu) throw new Error("?backend=webgpu, but navigator.gpu gives no adapter in this browser");
  if (gpu) return { backend: "webgpu", device: "webgpu", why: forced ? "forced by ?backend=webgpu" : "navigator.gpu gave an adapter" };
  return { backend: "wasm", device: "cpu", why: "no WebGPU adapter in this browser" };
}
