/** @file Bottleneck adapter configuration (Houlsby et al. 2019, https://arxiv.org/abs/1902.00751; AdaptFormer's parallel form, https://arxiv.org/abs/2205.13535). */
import { ConfigError, unknownName } from "../../errors.js";
import type { PeftCommonConfig } from "../targets.js";

/** Where the adapter reads from: the site's output (Houlsby, sequential) or its input (AdaptFormer, parallel). */
export const ADAPTER_PLACEMENTS = ["sequential", "parallel"] as const;
export type AdapterPlacement = (typeof ADAPTER_PLACEMENTS)[number];

/** y' = y + scaling * up(GELU(down(h))), h = y (sequential) or x (parallel). */
export interface AdapterConfig extends PeftCommonConfig {
  method: "adapter";
  /** Hidden size of the bottleneck. */
  bottleneck: number;
  /** Multiplier of the adapter output (AdaptFormer uses 0.1 with the parallel form). */
  scaling: number;
  placement: AdapterPlacement;
  /** Dropout probability on the bottleneck activation (training graph only). */
  dropout: number;
}

/** Houlsby's placement: after the attention output projection and after the MLP, bottleneck 8. */
export const ADAPTER_DEFAULTS: Omit<AdapterConfig, "method"> = {
  bottleneck: 8,
  scaling: 1,
  placement: "sequential",
  dropout: 0,
  targetModules: ["attn.proj", "mlp.fc2"],
  modulesToSave: ["head", "cls_token"],
};

/** Throws ConfigError naming the field. */
export function validateAdapter(cfg: AdapterConfig): void {
  if (!Number.isInteger(cfg.bottleneck) || cfg.bottleneck < 1) throw new ConfigError(`adapter.bottleneck must be a positive integer, got ${cfg.bottleneck}`);
  if (!Number.isFinite(cfg.scaling)) throw new ConfigError(`adapter.scaling must be a finite number, got ${cfg.scaling}`);
  if (!(ADAPTER_PLACEMENTS as readonly string[]).includes(cfg.placement)) throw unknownName("adapter.placement", String(cfg.placement), ADAPTER_PLACEMENTS);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new ConfigError(`adapter.dropout must be in [0, 1), got ${cfg.dropout}`);
  if (cfg.targetModules.length === 0) throw new ConfigError("adapter.targetModules must list at least one module");
}
