/** @file Public surface of the graph IR. */
export { GraphBuilder } from "./builder.js";
export { Value, Node, type Attrs, type TensorSource } from "./value.js";
export { type DType, type TypedArray, numel } from "./dtype.js";
export { ParameterStore, ParamBinder, type Parameter } from "./parameters.js";
export { OPS, type OpName } from "./ops/index.js";
export { defineOp, type OpDef, type VjpFn, type VjpContext } from "./op.js";
export { crossEntropy, type CrossEntropyOptions } from "./losses.js";
export { type Int8Weight, type QuantizedWeight, OUTLIER_COLUMNS, dequantizeWeight, int8Linear, int8MatMul, quantizeWeight } from "./int8-matmul.js";
