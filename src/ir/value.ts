/** @file Values and nodes of the graph IR: static shapes, one producer per value. */
import type { DType, TypedArray } from "./dtype.js";

/** Attribute values as ONNX knows them; which numbers are floats is declared per op. */
export type AttrValue = number | readonly number[] | string | boolean;
export type Attrs = Readonly<Record<string, AttrValue | undefined>>;

/** Where a value comes from. */
export type ValueKind = "input" | "initializer" | "node";

/** Source of an initializer's bytes; a function defers allocation until serialisation. */
export type TensorSource = TypedArray | (() => TypedArray);

/**
 * A symbolic tensor. Shapes are static; the batch size is part of the shape.
 * `constValue` is kept for small constants so shape-taking ops (Reshape, Slice) can infer.
 */
export class Value {
  constructor(
    readonly id: number,
    public name: string,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly kind: ValueKind,
    readonly producer: Node | null = null,
    readonly source: TensorSource | null = null,
    readonly constValue: readonly number[] | null = null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `${this.name}[${this.shape.join(",")}]:${this.dtype}`;
  }
}

/** One ONNX node. `type` is our op name (a key of OPS); the op's definition says what ONNX op it emits. */
export class Node {
  readonly outputs: Value[] = [];
  constructor(
    readonly id: number,
    readonly name: string,
    readonly type: string,
    readonly inputs: readonly (Value | null)[],
    readonly attrs: Attrs,
  ) {}
}
