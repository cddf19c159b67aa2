/**
 * @file Regularisers of an adapter branch, shared by the methods: dropout on the adapter's input and
 * drop-path on its output, as the authors' TuningModule and *SNELLParallel modules apply them.
 */
import { ShapeError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { fnv1a } from "../ir/ops/random.js";
import type { Value } from "../ir/value.js";

/**
 * Adapter drop-path keeps or drops a whole sample (an image; a window for window-attention
 * backbones), as timm's DropPath on the authors' (B, N, C) adapter output, not single token rows
 * (recorded in run.json).
 */
export const ADAPTER_DROP_PATH_UNIT = "leading-axis unit: an image; a window at window-attention sites";

/**
 * One adapter-input dropout mask per input value and method: q, k and v, which read one value, share
 * it, as the authors' q/k/v adapters all read one `additional_drop(x)` (recorded in run.json).
 */
export const ADAPTER_INPUT_DROPOUT = "one-mask-per-input";

const shared = new WeakMap<GraphBuilder, Map<string, Value>>();

/**
 * Dropout(x) for an adapter branch, built once per (x, method tag, p, seed) in a graph, so sites that
 * read the same x (q, k, v) get the very same dropped-out value. The mask's salt hashes x's name and
 * the tag, so different inputs, or two methods on one input, draw different masks.
 */
export function adapterInputDropout(g: GraphBuilder, x: Value, p: number, seed: Value, tag: string): Value {
  let byGraph = shared.get(g);
  if (!byGraph) shared.set(g, (byGraph = new Map()));
  const key = `${x.name}\u0000${tag}\u0000${p}\u0000${seed.name}`;
  let out = byGraph.get(key);
  if (!out) {
    out = g.dropout(x, p, seed, fnv1a(`${x.name}/${tag}`));
    byGraph.set(key, out);
  }
  return out;
}

/**
 * DropPath over whole samples of an adapter output [rows, ...]: its rows come in `samples` equal
 * contiguous groups (the batch's images, in order), and each group is kept, scaled by 1/(1-p), or
 * zeroed as one (rows = samples, e.g. the head's pooled input: one row each).
 */
export function adapterDropPath(g: GraphBuilder, out: Value, p: number, seed: Value, salt: number, samples: number): Value {
  const rows = out.shape[0]!;
  const n = samples;
  if (out.rank < 1 || !(Number.isInteger(n) && n >= 1 && rows % n === 0)) {
    throw new ShapeError(`adapter drop-path on "${out.name}": ${rows} rows do not split into ${n} samples`);
  }
  if (n === rows) return g.dropPath(out, p, seed, salt);
  const rest = out.shape.slice(1);
  return g.Reshape(g.dropPath(g.Reshape(out, [n, rows / n, ...rest]), p, seed, salt), out.shape);
}
