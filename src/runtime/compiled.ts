/** @file A compiled graph: checks feeds against the graph's inputs and names our node in ORT errors. */
import { ConfigError, RuntimeError } from "../errors.js";
import { numel, type DType, type TypedArray } from "../ir/dtype.js";
import type { GraphBuilder } from "../ir/builder.js";
import { Value } from "../ir/value.js";
import { writeModel, type WriteOptions } from "../onnx/writer.js";
import { createSession, ort, toTensor, type SessionOptions } from "./ort.js";

/** A feed: a typed array (shape taken from the graph) or an ORT tensor. */
export type Feed = TypedArray | ort.Tensor;

const ARRAY_DTYPE: Record<string, DType> = {
  Float32Array: "float32", Float64Array: "float64", BigInt64Array: "int64", Int32Array: "int32", Uint8Array: "uint8", Int8Array: "int8",
};

/** Picks the node name out of an ORT error message ("... node. Name:'blocks.0/MatMul' ..."). */
function nodeOf(message: string): string | null {
  return /Name:'([^']+)'/.exec(message)?.[1] ?? null;
}

/**
 * A value's name, shape and dtype without its producer: an output's producer reaches the whole IR graph
 * (nodes, constants), which the session no longer needs once ORT holds it (ViT-B SNELL step: ~17 MiB
 * of JS heap, twice LoRA's, alive through every step).
 */
function bare(v: Value): Value {
  return new Value(v.id, v.name, v.shape, v.dtype, v.kind);
}

export interface CompileOptions extends SessionOptions, WriteOptions {}

/**
 * A graph compiled into one ONNX Runtime session.
 *
 * @example
 * const c = await CompiledGraph.compile(g);
 * const { y } = await c.run({ x: new Float32Array(8 * 16) });
 */
export class CompiledGraph {
  private constructor(
    readonly session: ort.InferenceSession,
    readonly inputs: ReadonlyMap<string, Value>,
    readonly outputs: readonly Value[],
    private readonly weightFeeds: Record<string, ort.Tensor>,
    readonly modelBytes: number,
  ) {}

  static async compile(g: GraphBuilder, opts: CompileOptions = {}): Promise<CompiledGraph> {
    const written = writeModel(g, opts);
    const session = await createSession(written.bytes, opts);
    const weights: Record<string, ort.Tensor> = {};
    for (const [name, w] of written.weightFeeds) weights[name] = toTensor(w.data, w.shape, w.dtype);
    const used = new Set(written.nodes.flatMap((n) => n.inputs.map((v) => v?.name)));
    const inputs = new Map(g.inputs.filter((v) => used.has(v.name) || g.outputs.includes(v)).map((v) => [v.name, bare(v)]));
    return new CompiledGraph(session, inputs, g.outputs.map(bare), weights, written.bytes.byteLength);
  }

  /** Checks names, dtypes and sizes, then runs; fetches default to all outputs. */
  async run(feeds: Record<string, Feed>, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = { ...this.weightFeeds };
    for (const name of Object.keys(feeds)) {
      if (!this.inputs.has(name)) {
        throw new ConfigError(`unknown feed "${name}"; the graph's inputs are ${[...this.inputs.keys()].join(", ") || "(none)"}`);
      }
    }
    for (const [name, v] of this.inputs) {
      const f = feeds[name];
      if (f === undefined) throw new ConfigError(`missing feed "${name}" (${v.dtype} [${v.shape.join(", ")}])`);
      if (f instanceof ort.Tensor) {
        if (f.type !== v.dtype && !(v.dtype === "bool" && f.type === "bool")) {
          throw new ConfigError(`feed "${name}": dtype ${f.type}, graph expects ${v.dtype}`);
        }
        if (f.dims.join() !== v.shape.join()) throw new ConfigError(`feed "${name}": shape [${f.dims.join(", ")}], graph expects [${v.shape.join(", ")}]`);
        ortFeeds[name] = f;
        continue;
      }
      const arr = f as TypedArray;
      const dt = ARRAY_DTYPE[arr.constructor.name];
      const ok = dt === v.dtype || (v.dtype === "bool" && dt === "uint8");
      if (!ok) throw new ConfigError(`feed "${name}": ${f.constructor.name} (${dt ?? "?"}), graph expects ${v.dtype}`);
      if (arr.length !== numel(v.shape)) throw new ConfigError(`feed "${name}": ${arr.length} values, graph expects [${v.shape.join(", ")}] = ${numel(v.shape)}`);
      ortFeeds[name] = toTensor(arr, v.shape, v.dtype);
    }
    const names = fetches ?? this.outputs.map((v) => v.name);
    for (const n of names) {
      if (!this.outputs.some((o) => o.name === n)) throw new ConfigError(`unknown fetch "${n}"; outputs are ${this.outputs.map((o) => o.name).join(", ")}`);
    }
    try {
      return (await this.session.run(ortFeeds, names as string[])) as Record<string, ort.Tensor>;
    } catch (cause) {
      const msg = (cause as Error).message;
      const node = nodeOf(msg);
      throw new RuntimeError(`ONNX Runtime failed${node ? ` in node "${node}"` : ""}: ${msg}`, { cause });
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
