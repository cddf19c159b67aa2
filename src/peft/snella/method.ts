/**
 * @file SNELLA as a PEFT method: SNELL's kernelized factors with MixK on top, and a per-matrix
 * sparsity fed every step (set by SnellaAllocator) instead of a constant baked into the graph.
 */
import type { ParameterStore } from "../../ir/parameters.js";
import type { PeftMethod, SiteInfo } from "../method.js";
import { adaptSnell, initSnellParams, snellDelta, snellParamNames } from "../snell/method.js";
import { ZERO_SPARSITY } from "../snell/sparsify.js";
import { SnellaAllocator, sparsityInputName } from "./allocator.js";
import { SNELLA_DEFAULTS, validateSnella, type SnellaConfig } from "./config.js";
import { MIX_INIT } from "./mixk.js";
import { snellaRuntime } from "./runtime.js";

const PREFIX = "snella_";

/** Frozen one-element parameter recording a site's current sparsity, so merges and saved adapters know it. */
export function sparsityParamName(site: Pick<SiteInfo, "path">): string {
  return `${site.path}.${PREFIX}s`;
}

/** Copies the allocator's current sparsities into the parameter store (call before saving or merging). */
export function storeSparsity(params: ParameterStore, alloc: SnellaAllocator): void {
  for (const [path, s] of Object.entries(alloc.sparsity())) {
    const name = sparsityParamName({ path });
    if (params.has(name)) params.set(name, Float32Array.of(s));
    else params.add(name, [1], Float32Array.of(s), { trainable: false, decay: false });
  }
}

/**
 * SNELLA. Parameters per site: snella_A, snella_B (as SNELL), snella_mix = (alpha, gamma, beta) and
 * snella_s (frozen, the sparsity last stored). The graph reads the sparsity from the run input
 * `<site>.snella_sparsity` (see SnellaAllocator.feeds). Unlike SNELL, s = 0 still thresholds (only
 * the smallest |K| is zeroed) and s = 1 gives dW = 0, as the authors' SNELLA (ZERO_SPARSITY, FULL_SPARSITY).
 */
export const snella: PeftMethod<SnellaConfig> = {
  name: "snella",
  prefix: PREFIX,
  defaults: SNELLA_DEFAULTS,
  validate: validateSnella,
  runtime: (ctx) => snellaRuntime(ctx),
  init(params, site, cfg, rng) {
    initSnellParams(params, site, cfg, rng, PREFIX);
    params.add(snellParamNames(site, PREFIX).mix, [3], Float32Array.from(MIX_INIT), { trainable: true, decay: false });
    params.add(sparsityParamName(site), [1], Float32Array.of(cfg.allocator.initSparsity), { trainable: false, decay: false });
  },
  adapt(ctx, cfg) {
    const s = ctx.runInput(sparsityInputName(ctx.site.path), [], "float32");
    return adaptSnell(ctx, cfg, { prefix: PREFIX, sparsity: s, mix: true, atZero: ZERO_SPARSITY.snella });
  },
  delta(params, site, cfg) {
    const name = sparsityParamName(site);
    const s = params.has(name) ? params.get(name).data[0]! : cfg.sparsity;
    return snellDelta(params, site, cfg, PREFIX, s, true, ZERO_SPARSITY.snella);
  },
};
