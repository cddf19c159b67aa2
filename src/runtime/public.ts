/** @file Public surface of the runtime seam: which ONNX Runtime package runs the graphs, and its wasm settings. */
export { ORT_PACKAGE, configureWasm, ort, type WasmOptions } from "./ort.js";
export { DEVICES, type Device } from "./device.js";
