/** @file Public surface of the ONNX writer. */
export { writeModel, liveNodes, PROTOBUF_LIMIT, type WriteOptions, type WrittenModel } from "./writer.js";
export { saveModel } from "./external-data.js";
export { OPSET, IR_VERSION } from "./opset.js";
