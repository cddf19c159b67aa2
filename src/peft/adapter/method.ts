/** @file Bottleneck adapter as a PEFT method: down, GELU, up, with up = 0 at init so the model starts unchanged. */
import { fnv1a } from "../../ir/ops/random.js";
import { kaimingUniform } from "../../random.js";
import type { PeftMethod, SiteInfo } from "../method.js";
import { ADAPTER_DEFAULTS, validateAdapter, type AdapterConfig } from "./config.js";
import { hashedSeedFeed, seedFeeds } from "../seeds.js";

/** Run input holding the per-step dropout seed (int32 scalar), declared only when dropout > 0. */
export const ADAPTER_SEED_INPUT = "adapter_dropout_seed";

const names = (site: SiteInfo) => ({
  down: `${site.path}.adapter_down`,
  downBias: `${site.path}.adapter_down_bias`,
  up: `${site.path}.adapter_up`,
  upBias: `${site.path}.adapter_up_bias`,
});

/**
 * Bottleneck adapter. down [n, d] kaiming-uniform(a = sqrt 5), biases and up [d, nOut] zeros.
 * Nonlinear, so it has no `delta` and cannot be merged into the backbone.
 */
export const adapter: PeftMethod<AdapterConfig> = {
  name: "adapter",
  prefix: "adapter_",
  defaults: ADAPTER_DEFAULTS,
  validate: validateAdapter,
  runtime: (ctx) => ({ feeds: seedFeeds(ctx.seed, { [ADAPTER_SEED_INPUT]: (step, seed) => hashedSeedFeed("adapter", seed, step) }) }),
  init(params, site, cfg, rng) {
    const n = cfg.placement === "sequential" ? site.nOut : site.nIn, d = cfg.bottleneck, m = site.nOut;
    const p = names(site);
    params.add(p.down, [n, d], kaimingUniform(rng, n * d, n), { trainable: true });
    params.add(p.downBias, [d], new Float32Array(d), { trainable: true });
    params.add(p.up, [d, m], new Float32Array(d * m), { trainable: true });
    params.add(p.upBias, [m], new Float32Array(m), { trainable: true });
  },
  adapt({ g, bind, site, x, y, train, runInput }, cfg) {
    const p = names(site);
    const h = cfg.placement === "sequential" ? y : x;
    let u = g.gelu(g.Add(g.MatMul(h, bind.get(p.down)), bind.get(p.downBias)));
    if (train && cfg.dropout > 0) u = g.dropout(u, cfg.dropout, runInput(ADAPTER_SEED_INPUT, [], "int32"), fnv1a(`${site.path}/adapter_dropout`));
    let out = g.Add(g.MatMul(u, bind.get(p.up)), bind.get(p.upBias));
    if (cfg.scaling !== 1) out = g.Mul(out, g.scalar(cfg.scaling, out.dtype));
    return g.Add(y, out);
  },
};
