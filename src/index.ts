/**
 * @file snell-ts public API, by layer: graph IR -> ONNX -> autodiff -> runtime -> models -> PEFT
 * methods -> data -> training. Anything not exported here is private.
 *
 * @example
 * import { models, peft, train, random } from "snell-ts";
 * const cfg = models.resolveVariant("vit_small_patch16_224").config;
 * const base = { cfg, params: models.backboneOf(cfg).createParams(cfg, new random.Rng(0)) };
 * const model = peft.applyAdapters(base, { method: "snell", rank: 8, sparsity: 0.9 });
 * console.log(model.trainableReport());
 */
export * from "./errors.js";
export * as ir from "./ir/public.js";
export * as onnx from "./onnx/public.js";
export { grad } from "./autodiff/grad.js";
export { CompiledGraph, type CompileOptions, type Feed } from "./runtime/compiled.js";
export * as models from "./models/index.js";
export * as peft from "./peft/index.js";
export * as checkpoint from "./checkpoint/index.js";
export * as data from "./data/index.js";
export * as train from "./train/public.js";
export * as random from "./random.js";
