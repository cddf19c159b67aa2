/**
 * @file SNELLA's part of a training run: the bi-level allocator. Each matrix's sparsity is fed before
 * every step; after every step the factors' |theta * grad| (theta after the update) feed the
 * importance statistics; at the start of every schedule position (an epoch, as the authors'
 * train_alloc.py calls `allocator.update(model, epoch)`; or a step) the budget is reallocated.
 */
import type { ParameterStore } from "../../ir/parameters.js";
import type { MethodRuntime, RuntimeContext, RuntimeFeed, StepReport } from "../method.js";
import { snellRuntime } from "../snell/runtime.js";
import { SnellaAllocator, type SnellaAllocatorState } from "./allocator.js";
import type { SnellaConfig } from "./config.js";
import { storeSparsity } from "./method.js";

/** The allocator of a run of `ctx.epochs` epochs of `ctx.stepsPerEpoch` steps. */
export function runAllocator(ctx: RuntimeContext<SnellaConfig>): SnellaAllocator {
  const a = ctx.config.allocator;
  const total = a.unit === "epoch" ? ctx.epochs : ctx.epochs * ctx.stepsPerEpoch;
  return new SnellaAllocator(ctx.sites.map((s) => ({ path: s.path, nIn: s.nIn, nOut: s.nOut })), ctx.config.sparsity, a, { total });
}

/** SNELLA's runtime hooks: SNELL's (seed, threshold rerun) plus the allocator. */
export function snellaRuntime(ctx: RuntimeContext<SnellaConfig>): MethodRuntime {
  const alloc = runAllocator(ctx);
  const base = snellRuntime(ctx);
  const byEpoch = ctx.config.allocator.unit === "epoch";
  return {
    ...base,
    feeds: (step): Record<string, RuntimeFeed> => ({ ...base.feeds?.(step), ...alloc.feeds() }),
    fetchGrads: alloc.factorNames(),
    beginEpoch: (epoch) => { if (byEpoch) alloc.reallocate(epoch); },
    beginStep: (step) => { if (!byEpoch) alloc.reallocate(step); },
    afterStep: (r: StepReport) => alloc.observeStep((name) => ({ value: r.after(name), grad: r.grads[name]! })),
    storeInto: (params: ParameterStore) => storeSparsity(params, alloc),
    epochFields: () => ({ snellaBudget: alloc.last.budget }),
    exportState: () => alloc.exportState(),
    importState: (s) => alloc.importState(s as SnellaAllocatorState),
  };
}
