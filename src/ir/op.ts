/** @file The op definition contract: shape rule and reverse-mode rule side by side. */
import type { DType } from "./dtype.js";
import type { GraphBuilder } from "./builder.js";
import type { Attrs, Node, Value } from "./value.js";

export interface OutSpec {
  shape: readonly number[];
  dtype: DType;
  /** Known values of a small integer output (shape arithmetic), when cheap to compute. */
  constValue?: readonly number[];
}

export interface InferContext {
  /** Inputs; optional ONNX inputs that were left out are null. */
  x: readonly (Value | null)[];
  attrs: Attrs;
  /** Throws a ShapeError naming the op and node. */
  fail(message: string): never;
}

export interface VjpContext {
  g: GraphBuilder;
  node: Node;
  x: readonly (Value | null)[];
  y: readonly Value[];
  /** Upstream gradient per output; a zero tensor stands in for outputs nothing differentiates. */
  dy: readonly Value[];
  attrs: Attrs;
  /** needs[i]: input i leads to a trainable leaf. Rules may skip the rest (dead nodes are pruned anyway). */
  needs: readonly boolean[];
}

/** Returns one gradient per input, shaped like the input or broadcast-compatible with it; null for none. */
export type VjpFn = (ctx: VjpContext) => (Value | null)[];

export interface OpDef {
  /** The ONNX op_type this op emits (domain "" only). */
  readonly onnx: string;
  /** How many leading inputs ONNX sees; the rest are autodiff-only edges (CustomGrad). Default: all. */
  readonly onnxInputs?: number;
  /** Attribute names whose numbers are ONNX FLOAT (others are INT). */
  readonly floatAttrs?: readonly string[];
  readonly infer: (ctx: InferContext) => OutSpec[];
  /** A rule; "none" for ops whose outputs carry no gradient (integer or comparison results); "never" to refuse. */
  readonly vjp: VjpFn | "none" | "never";
}

export function defineOp(type: string, def: Omit<OpDef, "onnx"> & { onnx?: string }): OpDef {
  return { onnx: def.onnx ?? type, ...def };
}

/** A gradient rule supplied at graph-build time for one CustomGrad node (see GraphBuilder.customVjp). */
export type CustomRule = (g: GraphBuilder, xs: readonly Value[], y: Value, dy: Value) => (Value | null)[];

/** CustomGrad nodes and their rules; kept beside the graph because ONNX attributes cannot hold code. */
export const CUSTOM_RULES = new WeakMap<Node, CustomRule>();
