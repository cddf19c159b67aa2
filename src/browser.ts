/**
 * @file snell-ts for browsers (package.json "exports" condition "browser"): the layers that need no
 * file system, Node module or native addon. Graphs run on onnxruntime-web (`#onnxruntime` resolves to
 * it outside Node); files become bytes (adapters: peft.encodeAdapter / peft.applyAdapterFiles; weights:
 * checkpoint.parseSafetensors). Data loading, the trainer loop, the CLI and the queue stay in Node.
 *
 * @example
 * import { models, peft, random, runtime, train } from "snell-ts"; // a bundler with the "browser" condition
 * runtime.configureWasm({ numThreads: 1 }); // before the first session
 * const cfg = models.resolveVariant("vit_small_patch16_224").config;
 * const base = { cfg, params: models.backboneOf(cfg).createParams(cfg, new random.Rng(0)) };
 * const pm = peft.applyAdapters(base, { method: "snell", rank: 8, sparsity: 0.9 });
 */
export * from "./errors.js";
export * as ir from "./ir/public.js";
export * as onnx from "./onnx/public.js";
export { grad } from "./autodiff/grad.js";
export { CompiledGraph, type CompileOptions, type Feed } from "./runtime/compiled.js";
export * as runtime from "./runtime/public.js";
export * as models from "./models/index.js";
export * as peft from "./peft/index.js";
export * as checkpoint from "./checkpoint/bytes.js";
export * as train from "./train/browser.js";
export * as random from "./random.js";
