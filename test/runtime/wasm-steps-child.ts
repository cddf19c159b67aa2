/**
 * @file Child process of wasm-parity.test.ts: a few training steps of a tiny ViT with one PEFT method,
 * printed as JSON (the ORT package that ran them, losses, trained tensors). The test runs it under
 * `node --conditions=snell-onnxruntime-web` so `#onnxruntime` is onnxruntime-web (wasm) in Node.
 * Usage: node [--conditions=snell-onnxruntime-web] --import tsx test/runtime/wasm-steps-child.ts snell,lora
 */
import { ORT_PACKAGE, configureWasm } from "../../src/runtime/ort.js";
import { tinyRun } from "./wasm-steps.js";

configureWasm({ numThreads: 1 });
const out: Record<string, unknown> = { ort: ORT_PACKAGE };
for (const method of (process.argv[2] ?? "snell").split(",")) {
  const { losses, tensors } = await tinyRun(method);
  out[method] = { losses, tensors: Object.fromEntries(Object.entries(tensors).map(([k, v]) => [k, [...v]])) };
}
process.stdout.write(JSON.stringify(out) + "\n");
