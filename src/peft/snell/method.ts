/**
 * @file SNELL as a PEFT method: kernelized low-rank factors per site, sparsified per matrix by
 * competition, added to the frozen layer's output (y + x @ dW). The graph-building core is shared
 * with SNELLA, which adds MixK and a per-step sparsity.
 */
import { fnv1a } from "../../ir/ops/random.js";
import type { ParameterStore } from "../../ir/parameters.js";
import type { Value } from "../../ir/value.js";
import { kaimingUniform, type Rng } from "../../random.js";
import type { AdaptContext, PeftMethod, SiteInfo } from "../method.js";
import { SNELL_DEFAULTS, validateSnell, type SnellCommonConfig, type SnellConfig } from "./config.js";
import { denseDelta } from "./delta.js";
import { defaultAbg, defaultC, kernelMatrix, mixKernel } from "./kernel.js";
import { fusedSite, fusedSiteApplies } from "./site.js";
import { int8Fold } from "./int8-fold.js";
import { adapterDropPath, adapterInputDropout } from "../site-regularisers.js";
import { sparsify, type ZeroSparsity } from "./sparsify.js";
import { snellRuntime } from "./runtime.js";
import { int32Seed } from "../seeds.js";

/** Run input holding the per-step dropout / drop-path seed (int32 scalar), declared only when used. */
export const SNELL_SEED_INPUT = "snell_dropout_seed";

/**
 * Graph output `<site>.<prefix>threshold_ok` (bool scalar), present for matrices whose threshold
 * uses the sample bracket: false means the bracket missed and the step must be rerun from the same
 * state with a graph built with `exactThreshold` (see threshold-graph.ts).
 */
export const THRESHOLD_OK = "threshold_ok";

/** The feed for `SNELL_SEED_INPUT` at a step; (seed, step) makes masks reproducible on resume. */
export function snellSeedFeed(step: number, seed = 0): Int32Array {
  return int32Seed(BigInt(seed) * 1_000_003n + BigInt(step) + 7n);
}

/** Sites whose adapter input gets dropout in the authors' code (proj's does not). */
const DROPOUT_KINDS = new Set(["q", "k", "v", "fc1", "fc2"]);

/** Parameter names of one site under a method prefix ("snell_" or "snella_"). */
export function snellParamNames(site: SiteInfo, prefix: string) {
  const at = (n: string) => `${site.path}.${prefix}${n}`;
  return { A: at("A"), B: at("B"), c: at("c"), abg: at("abg"), mix: at("mix") };
}

/**
 * Adds A [P, nIn, r/P] and B [P, nOut, r/P], kaiming-uniform(a = sqrt 5) with torch's fan-in for a
 * 3-D tensor (size(1) * size(2) = n * r/P), plus c (learnableC) or (alpha, beta, gamma) (rbf, sigmoid).
 */
export function initSnellParams(params: ParameterStore, site: SiteInfo, cfg: SnellCommonConfig, rng: Rng, prefix: string): void {
  const P = cfg.groups, h = cfg.rank / P;
  const names = snellParamNames(site, prefix);
  params.add(names.A, [P, site.nIn, h], kaimingUniform(rng, P * site.nIn * h, site.nIn * h), { trainable: true });
  params.add(names.B, [P, site.nOut, h], kaimingUniform(rng, P * site.nOut * h, site.nOut * h), { trainable: true });
  if (cfg.kernel === "piecewise" && cfg.learnableC) params.add(names.c, [P], Float32Array.from(defaultC(P)), { trainable: true, decay: false });
  if (cfg.kernel === "rbf" || cfg.kernel === "sigmoid") {
    params.add(names.abg, [3], Float32Array.from(defaultAbg(cfg.kernel)), { trainable: true, decay: false });
  }
}

export interface SnellBuildOptions {
  prefix: string;
  /** Build-time sparsity, or a fed float32 scalar (SNELLA). */
  sparsity: number | Value;
  /** SNELLA's MixK on top of the kernel. */
  mix?: boolean;
  /** Sort whole matrices for the threshold (the fallback after a missed bracket). */
  exactThreshold?: boolean;
  /** s = 0: SNELL's dense K (default) or SNELLA's threshold (see ZERO_SPARSITY). */
  atZero?: ZeroSparsity;
}

/**
 * `v + 0 * after[0]`, cut from the gradient: the same numbers, available only once `after` is.
 * ORT otherwise runs every adapter's kernel at the start of the graph (they need parameters only),
 * keeping all 72 dW of ViT-B alive at once.
 */
function gate(g: AdaptContext["g"], v: Value, after: Value): Value {
  const first = g.Reshape(g.Slice(g.Reshape(after, [-1]), [0], [1], [0]), []);
  return g.Add(v, g.stopGradient(g.Mul(first, g.scalar(0, after.dtype))));
}

/** dW [nIn, nOut] of one site in the graph; `after` (the site input) delays it to where it is used. */
export function buildDelta(ctx: Pick<AdaptContext, "g" | "bind" | "site"> & { after?: Value }, cfg: SnellCommonConfig, o: SnellBuildOptions): Value {
  const { g, bind, site, after } = ctx;
  const names = snellParamNames(site, o.prefix);
  const factor = (n: string) => (after && cfg.recompute !== false ? gate(g, bind.get(n), after) : bind.get(n));
  let K = kernelMatrix(g, cfg.kernel, {
    A: factor(names.A),
    B: factor(names.B),
    c: cfg.kernel === "piecewise" && cfg.learnableC ? bind.get(names.c) : undefined,
    abg: cfg.kernel === "rbf" || cfg.kernel === "sigmoid" ? bind.get(names.abg) : undefined,
  });
  if (o.mix) K = mixKernel(g, K, bind.get(names.mix));
  const { dW, ok } = sparsify(g, K, o.sparsity, { soft: cfg.softThreshold, exact: o.exactThreshold ?? cfg.exactThreshold, atZero: o.atZero });
  if (ok && ok.kind === "node") g.output(ok, `${site.path}.${o.prefix}${THRESHOLD_OK}`);
  return cfg.recompute === false ? dW : g.recompute(dW);
}

/**
 * Whether a site takes the fused op of site.ts: SNELL's defaults (piecewise kernel, hard threshold, a
 * build-time sparsity, no MixK) with rematerialisation on; other settings use the autodiff path.
 */
function fused(ctx: AdaptContext, cfg: SnellCommonConfig, o: SnellBuildOptions): boolean {
  const A = ctx.bind.get(snellParamNames(ctx.site, o.prefix).A);
  return cfg.kernel === "piecewise" && !cfg.softThreshold && !o.mix && typeof o.sparsity === "number" && o.sparsity > 0 &&
    cfg.recompute !== false && fusedSiteApplies(ctx.x, A);
}

/**
 * y + DropPath(Dropout(x) @ dW), regularisers in the training graph only: the dropout mask is shared
 * by the sites that read one x (q, k, v), drop-path keeps or drops whole samples. Without either regulariser
 * (eval graphs, or both at 0) and with the frozen layer offered, the fused op computes
 * x (W0 + dW^T)^T + b in one product instead (equal up to float rounding).
 */
export function adaptSnell(ctx: AdaptContext, cfg: SnellCommonConfig, o: SnellBuildOptions): Value {
  const { g, bind, site, x, y, train, runInput } = ctx;
  return g.scope(`${site.path}/${o.prefix}adapter`, () => {
    const seed = () => runInput(SNELL_SEED_INPUT, [], "int32");
    const dropout = train && cfg.dropout > 0 && DROPOUT_KINDS.has(site.kind);
    const dropPath = train && cfg.dropPath > 0;
    const xin = dropout ? adapterInputDropout(g, x, cfg.dropout, seed(), `${o.prefix}dropout`) : x;
    const samplePath = (v: Value) => adapterDropPath(g, v, cfg.dropPath, seed(), fnv1a(`${site.path}/${o.prefix}drop_path`), ctx.samples);
    if (fused(ctx, cfg, o)) {
      const names = snellParamNames(site, o.prefix);
      const offered = !dropout && !dropPath && ctx.frozen ? ctx.frozen() : undefined;
      // An int8 layer is folded (int8-fold.ts) unless int8Fold.enabled is off; then x dW is added to its int8 output.
      const fold = offered?.int8 && !int8Fold.enabled ? undefined : offered;
      const { out, ok } = fusedSite(g, {
        x: xin, A: bind.get(names.A), B: bind.get(names.B), c: cfg.learnableC ? bind.get(names.c) : undefined,
        sparsity: o.sparsity as number, exactThreshold: o.exactThreshold ?? cfg.exactThreshold, frozen: fold, after: x,
      });
      if (ok.kind === "node") g.output(ok, `${site.path}.${o.prefix}${THRESHOLD_OK}`);
      if (fold) return out;
      return g.Add(y, dropPath ? samplePath(out) : out);
    }
    let out = g.MatMul(xin, buildDelta({ ...ctx, after: x }, cfg, o));
    if (dropPath) out = samplePath(out);
    return g.Add(y, out);
  });
}

/** dW of one site from stored parameters (for merging), through the same definition as the graph. */
export function snellDelta(params: ParameterStore, site: SiteInfo, cfg: SnellCommonConfig, prefix: string, sparsity: number, mix = false, atZero: ZeroSparsity = "dense"): Float32Array {
  const names = snellParamNames(site, prefix);
  const opt = (n: string) => (params.has(n) ? params.get(n).data : undefined);
  return denseDelta({
    A: params.get(names.A).data, B: params.get(names.B).data, groups: cfg.groups, nIn: site.nIn, nOut: site.nOut,
    kernel: cfg.kernel, c: opt(names.c), abg: opt(names.abg), mix: mix ? params.get(names.mix).data : undefined,
    sparsity, soft: cfg.softThreshold, atZero,
  });
}

/**
 * SNELL (Shen et al., NeurIPS 2024). Each targeted linear gets y + x @ dW with
 * dW = sparsify(K(A, B), s) and K the piecewise-linear kernel by default.
 */
export const snell: PeftMethod<SnellConfig> = {
  name: "snell",
  prefix: "snell_",
  defaults: SNELL_DEFAULTS,
  validate: validateSnell,
  runtime: (ctx) => snellRuntime(ctx),
  init(params, site, cfg, rng) {
    initSnellParams(params, site, cfg, rng, "snell_");
  },
  adapt(ctx, cfg) {
    return adaptSnell(ctx, cfg, { prefix: "snell_", sparsity: cfg.sparsity });
  },
  delta(params, site, cfg) {
    return snellDelta(params, site, cfg, "snell_", cfg.sparsity);
  },
};
