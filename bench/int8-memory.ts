/**
 * @file Resident memory of a backbone's weights in float32 and after `backbonePrecision: "int8"`
 * quantization (block linears int8 + per-channel scales, float32 copies dropped): RSS after creating
 * the float32 store, after quantizing it and letting the float32 one go, and the bytes each store holds.
 * node --expose-gc --import tsx bench/int8-memory.ts [--model vit_base_patch16_224]
 */
import { numel } from "../src/ir/dtype.js";
import type { ParameterStore } from "../src/ir/parameters.js";
import { int8WeightNames, quantizeParams } from "../src/models/backbone-precision.js";
import { backboneOf, resolveVariant } from "../src/models/registry.js";
import { Rng } from "../src/random.js";
import { currentRssMiB } from "../src/runtime/memory.js";

const argv = process.argv.slice(2);
const i = argv.indexOf("--model");
const arch = i >= 0 ? argv[i + 1]! : "vit_base_patch16_224";
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const settle = () => { gc(); gc(); return currentRssMiB(); };

/** Bytes a store holds: float32 data, or int8 data + float32 scales. */
function bytes(ps: ParameterStore, names: ReadonlySet<string>): number {
  return ps.list().filter((p) => names.has(p.name)).reduce((s, p) => s + (p.quantized ? p.quantized.q.length + 4 * p.quantized.scale.length : 4 * numel(p.shape)), 0);
}

const cfg = resolveVariant(arch, { numClasses: 10 }).config;
const rss0 = settle();
let fp32: ParameterStore | null = backboneOf(cfg).createParams(cfg, new Rng(0));
const names = new Set(int8WeightNames(cfg));
const rssF = settle();
const fBytes = bytes(fp32, names);
const int8 = quantizeParams(fp32, [...names]);
fp32 = null;
const rssQ = settle();
const qBytes = bytes(int8, names);
const all = int8.list().reduce((s, p) => s + numel(p.shape), 0);
const mib = (b: number) => (b / 2 ** 20).toFixed(0);
console.log(`${arch}: ${all.toLocaleString("en-US")} parameters, ${names.size} int8 weights`);
console.log(`block linears: float32 ${mib(fBytes)} MiB -> int8 + scales ${mib(qBytes)} MiB (${(fBytes / qBytes).toFixed(2)}x smaller)`);
console.log(`RSS: process ${rss0.toFixed(0)} MiB, + float32 store ${rssF.toFixed(0)} MiB, after int8 (float32 dropped) ${rssQ.toFixed(0)} MiB; ` +
  `the weights' share ${(rssF - rss0).toFixed(0)} -> ${(rssQ - rss0).toFixed(0)} MiB (${((rssF - rss0) / (rssQ - rss0)).toFixed(2)}x)`);
