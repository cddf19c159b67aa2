/** @file The ONNX protobuf schema, from the maintained onnx-proto package (protobufjs static code). */
import onnxProto from "onnx-proto";

export const onnx = (onnxProto as unknown as { onnx: typeof import("onnx-proto").onnx }).onnx;
