/** @file IR → ONNX ModelProto bytes. Knows nothing about gradients; emits only what outputs need. */
import { ConfigError, InternalError } from "../errors.js";
import { BYTES_PER_ELEMENT, numel, ONNX_DTYPE, type DType, type TypedArray } from "../ir/dtype.js";
import type { GraphBuilder } from "../ir/builder.js";
import { OPS, OPTIONAL_OUTPUTS, type OpName } from "../ir/ops/index.js";
import type { Node, Value } from "../ir/value.js";
import { IR_VERSION, OPSET } from "./opset.js";
import { onnx } from "./proto.js";

/** Protobuf messages cannot exceed 2 GiB; keep a margin for the graph itself. */
export const PROTOBUF_LIMIT = 2 ** 31 - 64 * 2 ** 20;

export interface WriteOptions {
  /**
   * Where frozen weights go. "graph": initializers inside the model. "inputs": graph inputs fed at run
   * time (no size limit). "auto" (default): "inputs" only when the initializers would pass the
   * protobuf limit.
   */
  weights?: "graph" | "inputs" | "auto";
  /** Initializers at most this many bytes always stay in the graph (small constants), as do those in g.inGraph. */
  smallBytes?: number;
  /**
   * Write initializers as ONNX external data (TensorProto.data_location = EXTERNAL) instead of inside
   * the model, for exporting models past the protobuf limit. Takes precedence over weights: "auto".
   */
  externalData?: ExternalDataOptions;
}

/** Where external tensor bytes go; `saveModel` (src/onnx/external-data.ts) streams them to a side file. */
export interface ExternalDataOptions {
  /** The side file's name relative to the model file, written into each tensor's "location". */
  location: string;
  /** Receives the side file's bytes in order (tensor data and alignment padding), one tensor at a time. */
  write: (chunk: Uint8Array) => void;
  /** Initializers of at most this many bytes stay inside the model (default 1024). */
  threshold?: number;
}

/** Tensor offsets in an external data file are aligned to this many bytes (mmap-friendly reads). */
export const EXTERNAL_ALIGN = 64;

export interface WrittenModel {
  bytes: Uint8Array;
  /** Tensors that became graph inputs and must be fed on every run. */
  weightFeeds: Map<string, { data: TypedArray; shape: readonly number[]; dtype: DType }>;
  /** Nodes emitted (after pruning), in topological order. */
  nodes: Node[];
}

const materialise = (v: Value): TypedArray => {
  const s = v.source!;
  return typeof s === "function" ? s() : s;
};

function valueInfo(v: Value) {
  return {
    name: v.name,
    type: { tensorType: { elemType: ONNX_DTYPE[v.dtype], shape: { dim: v.shape.map((d) => ({ dimValue: d })) } } },
  };
}

function attribute(op: OpName, name: string, value: unknown) {
  const floats = OPS[op].floatAttrs ?? [];
  if (typeof value === "string") {
    if (name === "to" && op === "Cast") return { name, type: onnx.AttributeProto.AttributeType.INT, i: ONNX_DTYPE[value as DType] };
    return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) };
  }
  if (typeof value === "boolean") return { name, type: onnx.AttributeProto.AttributeType.INT, i: value ? 1 : 0 };
  if (typeof value === "number") {
    return floats.includes(name)
      ? { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value }
      : { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
  }
  if (Array.isArray(value)) {
    return floats.includes(name)
      ? { name, type: onnx.AttributeProto.AttributeType.FLOATS, floats: value }
      : { name, type: onnx.AttributeProto.AttributeType.INTS, ints: value };
  }
  throw new InternalError(`attribute ${op}.${name} has unsupported value ${String(value)}`);
}

/** The inputs ONNX sees (CustomGrad's extra inputs exist for autodiff only). */
function onnxInputs(n: Node): readonly (Value | null)[] {
  const k = OPS[n.type as OpName].onnxInputs;
  return k === undefined ? n.inputs : n.inputs.slice(0, k);
}

/** Nodes the outputs depend on, in creation (= topological) order. */
export function liveNodes(g: GraphBuilder, outputs: readonly Value[] = g.outputs): Node[] {
  const live = new Set<Node>();
  const stack = outputs.map((v) => v.producer).filter((n): n is Node => n !== null);
  while (stack.length) {
    const n = stack.pop()!;
    if (live.has(n)) continue;
    live.add(n);
    for (const v of onnxInputs(n)) if (v?.producer && !live.has(v.producer)) stack.push(v.producer);
  }
  return g.nodes.filter((n) => live.has(n));
}

/**
 * Serialises the builder's graph as an ONNX model at the pinned opset.
 *
 * @example
 * const { bytes } = writeModel(g);
 * const session = await ort.InferenceSession.create(bytes);
 */
export function writeModel(g: GraphBuilder, opts: WriteOptions = {}): WrittenModel {
  if (g.outputs.length === 0) throw new ConfigError("graph has no outputs; call g.output(value) first");
  const nodes = liveNodes(g);
  const used = new Set<Value>(g.outputs);
  for (const n of nodes) for (const v of onnxInputs(n)) if (v) used.add(v);
  const inits = g.initializers.filter((v) => used.has(v));
  const inputs = g.inputs.filter((v) => used.has(v));

  const smallBytes = opts.smallBytes ?? 1 << 16;
  const total = inits.reduce((s, v) => s + numel(v.shape) * BYTES_PER_ELEMENT[v.dtype], 0);
  const ext = opts.externalData;
  const asInputs = opts.weights === "inputs" || ((opts.weights ?? "auto") === "auto" && !ext && total > PROTOBUF_LIMIT);
  if (!asInputs && !ext && total > PROTOBUF_LIMIT) {
    throw new ConfigError(
      `graph "${g.name}": ${(total / 2 ** 30).toFixed(2)} GiB of initializers pass the 2 GiB protobuf limit with weights: "graph"; ` +
        `use weights: "auto" or "inputs", or externalData (saveModel)`,
    );
  }
  let extOffset = 0;
  const weightFeeds: WrittenModel["weightFeeds"] = new Map();
  const initializer = [];
  for (const v of inits) {
    const bytes = numel(v.shape) * BYTES_PER_ELEMENT[v.dtype];
    const data = materialise(v);
    if (asInputs && bytes > smallBytes && !g.inGraph.has(v)) {
      weightFeeds.set(v.name, { data, shape: v.shape, dtype: v.dtype });
      continue;
    }
    if (ext && bytes > (ext.threshold ?? 1024)) {
      const pad = (EXTERNAL_ALIGN - (extOffset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
      if (pad) ext.write(new Uint8Array(pad));
      extOffset += pad;
      ext.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      initializer.push({
        name: v.name,
        dims: [...v.shape],
        dataType: ONNX_DTYPE[v.dtype],
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: ext.location },
          { key: "offset", value: String(extOffset) },
          { key: "length", value: String(data.byteLength) },
        ],
      });
      extOffset += data.byteLength;
      continue;
    }
    initializer.push({
      name: v.name,
      dims: [...v.shape],
      dataType: ONNX_DTYPE[v.dtype],
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
  }
  const node = nodes.map((n) => {
    const def = OPS[n.type as OpName];
    const optionalFrom = OPTIONAL_OUTPUTS[n.type as OpName] ?? n.outputs.length;
    const output = n.outputs.map((v, i) => (i >= optionalFrom && !used.has(v) ? "" : v.name));
    while (output.length && output[output.length - 1] === "") output.pop();
    const attribute_ = Object.entries(n.attrs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => attribute(n.type as OpName, k, v));
    return { name: n.name, opType: def.onnx, domain: "", input: onnxInputs(n).map((v) => v?.name ?? ""), output, attribute: attribute_ };
  });
  const graph = {
    name: g.name,
    node,
    initializer,
    input: [...inputs, ...inits.filter((v) => weightFeeds.has(v.name))].map(valueInfo),
    output: g.outputs.map(valueInfo),
  };
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: "snell-ts",
    opsetImport: [{ domain: "", version: OPSET }],
    graph,
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  return { bytes, weightFeeds, nodes };
}
