/** @file `--arch key=value,...` overrides: only VitConfig's fields, so a typo ("deph=1") fails instead of training the default. */
import { ConfigError } from "../errors.js";
import type { VitConfig } from "./vit.js";

/** Every field of VitConfig (kept in step with the interface by the `satisfies` below). */
export const VIT_CONFIG_KEYS = [
  "imgSize", "patchSize", "inChans", "numClasses", "embedDim", "depth", "numHeads", "mlpRatio", "qkvBias", "eps",
] as const satisfies readonly (keyof VitConfig)[];

// A compile error here means VitConfig gained a field the list above lacks.
type Missing = Exclude<keyof VitConfig, (typeof VIT_CONFIG_KEYS)[number]>;
const _complete: Missing extends never ? true : never = true;
void _complete;

/** Throws ConfigError naming the first unknown key and listing the valid ones. */
export function checkArchOverrides(over: Readonly<Record<string, unknown>>): Partial<VitConfig> {
  const valid: readonly string[] = VIT_CONFIG_KEYS;
  for (const k of Object.keys(over)) {
    if (!valid.includes(k)) throw new ConfigError(`--arch: unknown key "${k}"; expected one of ${VIT_CONFIG_KEYS.join(", ")}`);
  }
  return over as Partial<VitConfig>;
}
