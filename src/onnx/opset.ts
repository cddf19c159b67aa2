/** @file The one ONNX opset every graph is written against (17: first with LayerNormalization). */
export const OPSET = 17;
/** ONNX IR version matching opset 17 (ONNX 1.12). */
export const IR_VERSION = 8;
