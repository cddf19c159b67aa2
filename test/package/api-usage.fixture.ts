/**
 * @file Not a test: copied into the project that installs the packed tarball, and type-checked there with
 * tsc against the shipped .d.ts (test/package/install.test.ts). It touches each public layer through the
 * root and through its subpath, so a missing or unresolvable declaration is a compile error.
 */
import { CompiledGraph, ConfigError, grad, type Feed, models, peft, random } from "snell-ts";
import { GraphBuilder, type Value } from "snell-ts/ir";
import { type VitConfig, vitVariant } from "snell-ts/models";
import { type PeftConfig, type PeftModel, applyAdapters } from "snell-ts/peft";
import { TrainSession, type TrainOptions } from "snell-ts/train";
import type { NamedTensor } from "snell-ts/checkpoint";
import type { Dataset } from "snell-ts/data";
import { Rng } from "snell-ts/random";
import * as onnx from "snell-ts/onnx";
// @ts-expect-error dist/ is not in the exports map, so its files have no types to import either
import type { models as deepModels } from "snell-ts/dist/index.js";

const cfg: VitConfig = { ...vitVariant("vit_small_patch16_224").config, depth: 1, numClasses: 3 };
const method: peft.MethodName = "snell";
const config = { method, rank: 8, sparsity: 0.9 };
const full: PeftConfig["method"] = method;
const model: PeftModel = applyAdapters({ cfg, params: models.createVitParams(cfg, new Rng(0)) }, config);
const report: string = model.trainableReport();
const same: typeof applyAdapters = peft.applyAdapters;

const g = new GraphBuilder();
const x: Value = g.input("x", [2, 3]);
const feed: Feed = new Float32Array(6);
const compiled: Promise<CompiledGraph> = CompiledGraph.compile(g);
const notAnError: ConfigError | undefined = undefined;

export const uses = [full, report, same, grad, feed, compiled, notAnError, x, random.Rng, onnx, TrainSession] as const;
export type Uses = [NamedTensor, Dataset, TrainOptions, typeof deepModels];
