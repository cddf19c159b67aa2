/** @file LoRA as a PEFT method: two low-rank factors per site, B = 0 at init so the model starts unchanged. */
import type { ParameterStore } from "../../ir/parameters.js";
import { kaimingUniform } from "../../random.js";
import type { PeftMethod, SiteInfo } from "../method.js";
import { fnv1a } from "../../ir/ops/random.js";
import { adapterDropPath, adapterInputDropout } from "../site-regularisers.js";
import { LORA_DEFAULTS, validateLora, type LoraConfig } from "./config.js";
import { int32Seed, seedFeeds } from "../seeds.js";

/** Run input holding the per-step dropout / drop-path seed (int32 scalar), declared only when one is on. */
export const LORA_SEED_INPUT = "lora_dropout_seed";

/** The feed for `LORA_SEED_INPUT` at a step: any value works; (seed, step) makes masks reproducible on resume. */
export function loraSeedFeed(step: number, seed = 0): Int32Array {
  return int32Seed(BigInt(seed) * 1_000_003n + BigInt(step));
}

const A = (site: SiteInfo) => `${site.path}.lora_A`;
const B = (site: SiteInfo) => `${site.path}.lora_B`;

/**
 * LoRA (Hu et al. 2021). A [nIn, r] is kaiming-uniform(a = sqrt 5) as torch's nn.Linear, B [r, nOut] zeros.
 * The output is y + DropPath((alpha / r) * (Dropout(x) A) B), the regularisers in training graphs only.
 */
export const lora: PeftMethod<LoraConfig> = {
  name: "lora",
  prefix: "lora_",
  defaults: LORA_DEFAULTS,
  validate: validateLora,
  optionalFields: ["dropPath"],
  runtime: (ctx) => ({ feeds: seedFeeds(ctx.seed, { [LORA_SEED_INPUT]: loraSeedFeed }) }),
  init(params, site, cfg, rng) {
    params.add(A(site), [site.nIn, cfg.rank], kaimingUniform(rng, site.nIn * cfg.rank, site.nIn), { trainable: true });
    params.add(B(site), [cfg.rank, site.nOut], new Float32Array(cfg.rank * site.nOut), { trainable: true });
  },
  adapt({ g, bind, site, x, y, train, runInput, samples }, cfg) {
    const scale = cfg.alpha / cfg.rank;
    // q, k and v read one input value and share its dropped-out copy (ADAPTER_INPUT_DROPOUT).
    const xin = train && cfg.dropout > 0 ? adapterInputDropout(g, x, cfg.dropout, runInput(LORA_SEED_INPUT, [], "int32"), "lora_dropout") : x;
    // Scale the rank-r intermediate, the smallest tensor on the path.
    let h = g.MatMul(xin, bind.get(A(site)));
    if (scale !== 1) h = g.Mul(h, g.scalar(scale, h.dtype));
    const out = g.MatMul(h, bind.get(B(site)));
    const dropPath = train ? cfg.dropPath ?? 0 : 0;
    if (dropPath === 0) return g.Add(y, out);
    // whole samples, one draw per site (each of the authors' TuningModules has its own DropPath)
    return g.Add(y, adapterDropPath(g, out, dropPath, runInput(LORA_SEED_INPUT, [], "int32"), fnv1a(`${site.path}/lora_drop_path`), samples));
  },
  delta(params: ParameterStore, site, cfg) {
    return lowRankProduct(params.get(A(site)).data, params.get(B(site)).data, site.nIn, cfg.rank, site.nOut, cfg.alpha / cfg.rank);
  },
};

/** scale * A B for A [n, r], B [r, m], row-major, accumulated in float64. */
export function lowRankProduct(a: Float32Array, b: Float32Array, n: number, r: number, m: number, scale: number): Float32Array {
  const out = new Float32Array(n * m);
  const row = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const aik = a[i * r + k]!;
      if (aik === 0) continue;
      const off = k * m;
      for (let j = 0; j < m; j++) row[j]! += aik * b[off + j]!;
    }
    for (let j = 0; j < m; j++) out[i * m + j] = scale * row[j]!;
  }
  return out;
}
