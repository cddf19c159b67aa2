/**
 * @file Per-run graph inputs that a model declares while it is built (dropout and drop-path seeds,
 * SNELLA's per-matrix sparsity) and the feeds the trainer gives them at each step. The method's
 * runtime feeds its own inputs; any other int32 `*_seed` scalar (the backbone's stochastic depth)
 * gets a hash of (name, seed, step). Everything is a function of (seed, step), so a resumed run
 * feeds exactly what the uninterrupted one did.
 */
import { ConfigError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import type { Value } from "../ir/value.js";
import { graphRunInput } from "../peft/apply.js";
import type { AdaptContext, RuntimeFeed } from "../peft/method.js";
import { hashedSeedFeed } from "../peft/seeds.js";
import type { Feed } from "../runtime/compiled.js";

/** One declared run input. */
export interface RunInputDecl {
  name: string;
  shape: readonly number[];
  dtype: "float32" | "int32";
}

/** The feeds a method computes for step `step` (its runtime's `feeds`). */
export type MethodFeeds = (step: number) => Record<string, RuntimeFeed>;

/**
 * Records the run inputs a build declares, per graph, and computes their feeds: the method's feeds
 * where it gives one, a hashed seed for other `*_seed` int32 scalars, and an error for anything else.
 */
export class RunInputs {
  private readonly byGraph = new WeakMap<GraphBuilder, Map<string, RunInputDecl>>();
  /** Everything declared in any graph, by name. */
  readonly declared = new Map<string, RunInputDecl>();

  constructor(private readonly seed: number, private readonly method: MethodFeeds | null = null) {}

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
    const own = this.method?.(step) ?? {};
    const out: Record<string, Feed> = {};
    for (const d of this.declared.values()) {
      if (d.name in own) out[d.name] = own[d.name]!;
      else if (d.dtype === "int32" && d.name.endsWith("_seed") && d.shape.length === 0) out[d.name] = hashedSeedFeed(d.name, this.seed, step);
      else throw new ConfigError(`run input "${d.name}" (${d.dtype} [${d.shape.join(", ")}]) has no feed: the trainer feeds "*_seed" scalars and the method runtime's feeds only`);
    }
    return out;
  }
}

/** Prefix of the step outputs that carry what a method's graph reported (e.g. SNELL's threshold flags). */
export const METHOD_OUTPUT_PREFIX = "method/";

/** Every output a model's build registered (method reports such as threshold flags), to return from a step build. */
export function methodOutputs(g: GraphBuilder): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const v of g.outputs) out[`${METHOD_OUTPUT_PREFIX}${v.name}`] = v;
  return out;
}
