/**
 * @file Moving tensors between host and device memory. onnxruntime-node 1.30's `getData()` on a
 * "gpu-buffer" output aborts the process ("terminate called after throwing an instance of 'char
 * const*'"), and feeding one to a CPU session reads garbage; a second tiny session on the same device,
 * Identity graphs whose outputs default to host memory, copies it back correctly (checked on
 * webgpu, software Vulkan). The same Identity graphs with outputs left on the device upload host
 * arrays once, for feeds that many runs reuse. One run moves a whole set of tensors.
 */
import { ConfigError } from "../errors.js";
import { GraphBuilder } from "../ir/builder.js";
import type { DType, TypedArray } from "../ir/dtype.js";
import { CompiledGraph } from "./compiled.js";
import type { Device } from "./device.js";
import { hold, onDevice } from "./tensor-refs.js";
import { toTensor, type ort } from "./ort.js";

const DTYPES: readonly string[] = ["float32", "float64", "int64", "int32", "bool", "uint8"];

/** Identity sessions by device and input signature; few distinct ones exist per run (the state's shapes). */
const sessions = new Map<string, Promise<CompiledGraph>>();
const MAX_SESSIONS = 16;

function identityGraph(tensors: readonly ort.Tensor[]): GraphBuilder {
  const g = new GraphBuilder("read_back");
  tensors.forEach((t, i) => {
    if (!DTYPES.includes(t.type)) throw new ConfigError(`readBack: unsupported tensor type ${t.type}`);
    g.output(g.Identity(g.input(`x${i}`, t.dims, t.type as DType)), `y${i}`);
  });
  return g;
}

function sessionFor(device: Device, tensors: readonly ort.Tensor[], toDevice = false): Promise<CompiledGraph> {
  const key = `${device}|${toDevice ? "up" : "down"}|${tensors.map((t) => `${t.type}[${t.dims.join(",")}]`).join(";")}`;
  let s = sessions.get(key);
  if (!s) {
    if (sessions.size >= MAX_SESSIONS) {
      const [oldKey, old] = sessions.entries().next().value!;
      sessions.delete(oldKey);
      void old.then((c) => c.release());
    }
    const outputLocation = toDevice ? { outputLocation: Object.fromEntries(tensors.map((_, i) => [`y${i}`, "gpu-buffer" as const])) } : {};
    s = CompiledGraph.compile(identityGraph(tensors), { device, intraOpThreads: 1, ...outputLocation });
    sessions.set(key, s);
    s.catch(() => sessions.delete(key));
  }
  return s;
}

/**
 * Host copies of `tensors`, by name: host tensors give their own data (no copy), device ones are read
 * back through one run of a cached Identity session on `device` (default "webgpu", the provider whose
 * outputs onnxruntime-node can leave on the device).
 *
 * @example
 * const { "head.weight": w } = await readBackAll({ "head.weight": state.get("head.weight")! });
 */
export async function readBackAll(tensors: Readonly<Record<string, ort.Tensor>>, device: Device = "webgpu"): Promise<Record<string, TypedArray>> {
  const out: Record<string, TypedArray> = {};
  const remote: [string, ort.Tensor][] = [];
  for (const [n, t] of Object.entries(tensors)) {
    if (onDevice(t)) remote.push([n, t]);
    else out[n] = t.data as TypedArray;
  }
  if (remote.length === 0) return out;
  const graph = await sessionFor(device, remote.map(([, t]) => t));
  const r = await graph.run(Object.fromEntries(remote.map(([, t], i) => [`x${i}`, t])));
  remote.forEach(([n], i) => (out[n] = r[`y${i}`]!.data as TypedArray));
  return out;
}

/**
 * Device copies of float32 host arrays (`shapes` gives each one's dims), held for the caller (drop
 * them with runtime/tensor-refs.ts when done). Only webgpu leaves outputs on the device; on other
 * devices the arrays come back as host tensors, which ORT copies at each run as before.
 *
 * @example
 * const w = await uploadAll({ "head.weight": data }, { "head.weight": [10, 768] }, "webgpu");
 */
export async function uploadAll(arrays: Readonly<Record<string, Float32Array>>, shapes: Readonly<Record<string, readonly number[]>>, device: Device): Promise<Record<string, ort.Tensor>> {
  const names = Object.keys(arrays);
  const host = names.map((n) => toTensor(arrays[n]!, shapes[n]!, "float32"));
  if (device !== "webgpu" || names.length === 0) return Object.fromEntries(names.map((n, i) => [n, host[i]!]));
  const graph = await sessionFor(device, host, true);
  const r = await graph.run(Object.fromEntries(host.map((t, i) => [`x${i}`, t])));
  return Object.fromEntries(names.map((n, i) => [n, hold(r[`y${i}`]!)]));
}

/** The host copy of one tensor (see `readBackAll`). */
export async function readBack(t: ort.Tensor, device: Device = "webgpu"): Promise<TypedArray> {
  return (await readBackAll({ t }, device)).t!;
}

/** Releases the cached read-back sessions (tests; a process exits without it). */
export async function releaseReadBackSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  for (const s of all) await (await s).release();
}
