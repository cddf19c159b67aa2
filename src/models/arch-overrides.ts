/** @file `--arch key=value,...` overrides: only VitConfig's fields, so a typo ("deph=1") fails instead of training the default. */
import { ConfigError } from "../errors.js";
import { VIT_CONFIG_KEYS, type VitConfig } from "./vit.js";

export { VIT_CONFIG_KEYS } from "./vit.js";

/** Throws ConfigError naming the first unknown key and listing the valid ones. */
export function checkArchOverrides(over: Readonly<Record<string, unknown>>): Partial<VitConfig> {
  const valid: readonly string[] = VIT_CONFIG_KEYS;
  for (const k of Object.keys(over)) {
    if (!valid.includes(k)) throw new ConfigError(`--arch: unknown key "${k}"; expected one of ${VIT_CONFIG_KEYS.join(", ")}`);
  }
  return over as Partial<VitConfig>;
}
