/**
 * @file Per-run graph inputs that PEFT methods declare (dropout seeds, SNELLA's per-matrix sparsity)
 * and the feeds the trainer gives them at each step: everything is a function of (seed, step), so a
 * resumed run feeds exactly what the uninterrupted one did.
 */
import { ConfigError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { fnv1a } from "../ir/ops/random.js";
import type { Value } from "../ir/value.js";
import { ADAPTER_SEED_INPUT } from "../peft/adapter/method.js";
import { graphRunInput } from "../peft/apply.js";
import { LORA_SEED_INPUT, loraSeedFeed } from "../peft/lora/method.js";
import type { AdaptContext } from "../peft/method.js";
import { SNELL_SEED_INPUT, snellSeedFeed, THRESHOLD_OK } from "../peft/snell/method.js";
import type { Feed } from "../runtime/compiled.js";

/** One declared run input. */
export interface RunInputDecl {
  name: string;
  shape: readonly number[];
  dtype: "float32" | "int64";
}

/** Feeds for inputs a method computes outside the graph (SNELLA's allocator); null when it has none. */
export type ExtraFeeds = () => Record<string, Feed>;

/**
 * The int64 seed fed to a `*_seed` run input at global optimizer step `step` (0-based): the method's
 * own formula where it exports one, else a hash of (name, seed, step).
 */
export function seedFeed(name: string, step: number, seed: number): BigInt64Array {
  if (name === SNELL_SEED_INPUT) return snellSeedFeed(step, seed);
  if (name === LORA_SEED_INPUT) return loraSeedFeed(step, seed);
  const salt = BigInt(fnv1a(name === ADAPTER_SEED_INPUT ? "adapter" : name));
  return BigInt64Array.of(BigInt(seed) * 1_000_003n + BigInt(step) * 7919n + salt);
}

/**
 * Records the run inputs a build declares, per graph, and computes their feeds. Seeds (`*_seed`,
 * int64 scalars) are derived from (seed, step); every other input must come from `extra`.
 */
export class RunInputs {
  private readonly byGraph = new WeakMap<GraphBuilder, Map<string, RunInputDecl>>();
  /** Everything declared in any graph, by name. */
  readonly declared = new Map<string, RunInputDecl>();

  constructor(private readonly seed: number, private readonly extra: ExtraFeeds | null = null) {}

  /** The `runInput` callback for `PeftModel.forward` in graph `g`. */
  declarer(g: GraphBuilder): AdaptContext["runInput"] {
    const declare = graphRunInput(g);
    return (name, shape, dtype = "float32"): Value => {
      let m = this.byGraph.get(g);
      if (!m) this.byGraph.set(g, (m = new Map()));
      const decl = { name, shape: [...shape], dtype };
      m.set(name, decl);
      this.declared.set(name, decl);
      return declare(name, shape, dtype);
    };
  }

  /** Feeds for every declared input at global step `step` (eval passes the step it evaluates after). */
  feeds(step: number): Record<string, Feed> {
    const extra = this.extra?.() ?? {};
    const out: Record<string, Feed> = {};
    for (const d of this.declared.values()) {
      if (d.name in extra) out[d.name] = extra[d.name]!;
      else if (d.dtype === "int64" && d.name.endsWith("_seed") && d.shape.length === 0) out[d.name] = seedFeed(d.name, step, this.seed);
      else throw new ConfigError(`run input "${d.name}" (${d.dtype} [${d.shape.join(", ")}]) has no feed: the trainer feeds "*_seed" scalars and the method's declared inputs only`);
    }
    return out;
  }
}

/** Graph outputs that report a missed threshold bracket (SNELL/SNELLA), to return from a build. */
export function thresholdOutputs(g: GraphBuilder): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const v of g.outputs) if (v.name.endsWith(THRESHOLD_OK)) out[`ok/${v.name}`] = v;
  return out;
}

/** Whether any threshold flag in a run's outputs is false (the step must be rerun with exact thresholds). */
export function thresholdMissed(outputs: Record<string, ArrayLike<number | boolean>>): boolean {
  for (const [k, v] of Object.entries(outputs)) if (k.endsWith(THRESHOLD_OK) && !v[0]) return true;
  return false;
}
