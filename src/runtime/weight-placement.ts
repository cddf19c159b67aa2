/**
 * @file Where a session's frozen weights go, by device: fed as graph inputs on CPU, initializers inside
 * the graph on a GPU.
 */
import type { WriteOptions } from "../onnx/writer.js";
import type { Device } from "./device.js";

/**
 * The `weights` write option for a step or eval session on `device`.
 * - "cpu": "inputs". ORT wraps the ParameterStore's arrays without a copy, whereas initializers are
 *   copied out of the model bytes plus a pre-packed copy per MatMul/Gemm consumer (ViT-S LoRA step:
 *   RSS after compile 538 -> 254 MiB, step time no worse).
 * - "webgpu", "cuda": "graph". A fed weight is host memory that ORT copies to the device on every
 *   run; an initializer is uploaded once when the session is created and stays there. Past the 2 GiB
 *   protobuf limit the writer refuses "graph": such a model needs external data.
 *
 * @example
 * CompiledGraph.compile(g, { device, weights: weightPlacementFor(device) });
 */
export function weightPlacementFor(device: Device): NonNullable<WriteOptions["weights"]> {
  return device === "cpu" ? "inputs" : "graph";
}
