/**
 * @file Times the in-graph thresholds of all 72 adapted ViT-B matrices (q, k, v, proj 768x768;
 * fc1 768x3072; fc2 3072x768; 12 blocks), median of several runs, and checks each against
 * torch.quantile's definition. Usage: node --import tsx bench/threshold.ts [--runs 5] [--s 0.9] [--step-ms N]
 */
import { GraphBuilder } from "../src/ir/builder.js";
import type { Value } from "../src/ir/value.js";
import { CompiledGraph } from "../src/runtime/compiled.js";
import { Rng } from "../src/random.js";
import { thresholdOf } from "../src/peft/snell/threshold-graph.js";
import { quantile } from "../src/peft/snell/threshold.js";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const runs = arg("runs", 5), s = arg("s", 0.9), depth = arg("depth", 12), stepMs = arg("step-ms", NaN);
const exact = process.argv.includes("--exact");
const sample = arg("sample", 0);
const fed = process.argv.includes("--fed-s");

const D = 768;
const shapes: Array<[string, number, number]> = [];
for (let b = 0; b < depth; b++) {
  for (const k of ["q", "k", "v", "proj"]) shapes.push([`blocks.${b}.attn.${k}`, D, D]);
  shapes.push([`blocks.${b}.mlp.fc1`, D, 4 * D], [`blocks.${b}.mlp.fc2`, 4 * D, D]);
}

const g = new GraphBuilder("thresholds");
const sIn = fed ? g.input("s", []) : null;
const outs: Value[] = [];
for (const [name, r, c] of shapes) {
  const m = g.input(name, [r, c]);
  const { t, ok } = g.scope(name, () => thresholdOf(g, m, sIn ?? s, { exact, ...(sample ? { sample } : {}) }));
  outs.push(g.output(t, `${name}.t`), g.output(ok, `${name}.ok`));
}
const compiled = await CompiledGraph.compile(g);
const rng = new Rng(0);
const feeds: Record<string, Float32Array> = {};
for (const [name, r, c] of shapes) {
  // |K| of a trained SNELL matrix is smooth with many near-ties; a folded normal stands in
  const a = new Float32Array(r * c);
  for (let i = 0; i < a.length; i++) a[i] = Math.abs(rng.normal()) * 0.01;
  feeds[name] = a;
}
if (sIn) (feeds as Record<string, Float32Array>).s = Float32Array.of(s);
const times: number[] = [];
let out: Awaited<ReturnType<typeof compiled.run>> = {};
for (let i = 0; i < runs + 1; i++) {
  const t0 = performance.now();
  out = await compiled.run(feeds);
  if (i) times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const med = times[times.length >> 1]!;
let maxErr = 0, allOk = true;
for (const [name] of shapes.slice(0, 6)) {
  const ref = quantile(feeds[name]!, fed ? Math.fround(s) : s);
  const ours = Number(out[`${name}.t`]!.data[0]);
  maxErr = Math.max(maxErr, Math.abs(ours - Math.fround(ref)) / ref);
}
for (const [name] of shapes) allOk &&= Boolean(out[`${name}.ok`]!.data[0]);
console.log(JSON.stringify({
  what: "ViT-B thresholds (72 matrices)", s, fedS: fed, exact, runs, medianMs: +med.toFixed(1),
  minMs: +times[0]!.toFixed(1), bracketOk: allOk, maxRelErrVsQuantile: maxErr,
  ...(Number.isFinite(stepMs) ? { stepMs, share: +(med / stepMs).toFixed(4) } : {}),
}));
await compiled.release();
