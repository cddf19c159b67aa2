/** @file Element types the IR supports, their ONNX codes and typed-array constructors. */
import { ConfigError } from "../errors.js";

export type DType = "float32" | "float64" | "int64" | "int32" | "bool" | "uint8" | "int8";

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11,
};

export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4, float64: 8, int64: 8, int32: 4, bool: 1, uint8: 1, int8: 1,
};

export function isFloat(d: DType): boolean {
  return d === "float32" || d === "float64";
}

/** Allocates a zeroed typed array of the right kind for a dtype. */
export function allocate(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case "float32": return new Float32Array(size);
    case "float64": return new Float64Array(size);
    case "int64": return new BigInt64Array(size);
    case "int32": return new Int32Array(size);
    case "bool": case "uint8": return new Uint8Array(size);
    case "int8": return new Int8Array(size);
  }
}

/** Builds a typed array for a dtype from plain numbers. */
export function fromNumbers(dtype: DType, values: ArrayLike<number>): TypedArray {
  const out = allocate(dtype, values.length);
  if (out instanceof BigInt64Array) for (let i = 0; i < values.length; i++) out[i] = BigInt(Math.trunc(values[i]!));
  else for (let i = 0; i < values.length; i++) (out as Float32Array)[i] = values[i]!;
  return out;
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint8Array) return "uint8";
  if (a instanceof Int8Array) return "int8";
  throw new ConfigError("unsupported typed array");
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
