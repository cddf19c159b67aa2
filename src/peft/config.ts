/**
 * @file PeftConfig: the union of every built-in method's config, and `parsePeftConfig`, the one place
 * raw JSON (CLI, adapter_config.json) becomes a validated config with defaults applied.
 */
import { ConfigError } from "../errors.js";
import type { AdapterConfig } from "./adapter/index.js";
import type { BitfitConfig } from "./bitfit/index.js";
import type { FullConfig } from "./full/index.js";
import type { LinearConfig } from "./linear/index.js";
import type { LoraConfig } from "./lora/index.js";
import { allMethods, getMethod, type GenericPeftConfig } from "./registry.js";
import type { SnellConfig } from "./snell/index.js";
import type { SnellaConfig } from "./snella/index.js";
import { patternRegex } from "./targets.js";

/** Any built-in method's config, discriminated by `method`. */
export type PeftConfig = SnellConfig | SnellaConfig | LoraConfig | AdapterConfig | BitfitConfig | LinearConfig | FullConfig;

/** Optional fields every method accepts without a default. */
const OPTIONAL_COMMON = ["excludeModules", "layers"] as const;

const kindOf = (v: unknown): string => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v);
const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Checks `value` against the default's type; arrays by element type (strings, or block indices for `layers`). */
function checkType(where: string, value: unknown, like: unknown, elem?: "string" | "integer"): void {
  const want = kindOf(like);
  const got = kindOf(value);
  if (want !== got) throw new ConfigError(`${where} must be a ${want}, got ${JSON.stringify(value)}`);
  if (got === "number" && !Number.isFinite(value)) throw new ConfigError(`${where} must be a finite number, got ${String(value)}`);
  if (got !== "array") return;
  const arr = value as unknown[];
  const first = (like as unknown[])[0];
  const e = elem ?? (first === undefined ? undefined : typeof first === "string" ? "string" : undefined);
  arr.forEach((x, i) => {
    if (e === "string" && typeof x !== "string") throw new ConfigError(`${where}[${i}] must be a string, got ${JSON.stringify(x)}`);
    if (e === "integer" && !(Number.isInteger(x) && (x as number) >= 0)) throw new ConfigError(`${where}[${i}] must be a block index (integer >= 0), got ${JSON.stringify(x)}`);
    if (e === undefined && first !== undefined && kindOf(x) !== kindOf(first)) throw new ConfigError(`${where}[${i}] must be a ${kindOf(first)}, got ${JSON.stringify(x)}`);
  });
}

/**
 * Merges `given` over `defaults` key by key (nested objects too), accepting snake_case spellings.
 * Keys not in `defaults` must be in `optional`; their values are taken as given.
 */
function fill(where: string, given: Record<string, unknown>, defaults: Record<string, unknown>, optional: ReadonlySet<string>): Record<string, unknown> {
  const known = new Set([...Object.keys(defaults), ...optional]);
  const named: Record<string, unknown> = {};
  for (const [k0, v] of Object.entries(given)) {
    const k = known.has(k0) ? k0 : camel(k0);
    if (!known.has(k)) throw new ConfigError(`${where}: unknown field "${k0}"; expected one of ${[...known].join(", ")}`);
    if (k in named) throw new ConfigError(`${where}: field "${k}" is given twice (as "${k}" and "${k0}")`);
    if (v !== undefined) named[k] = v;
  }
  const out: Record<string, unknown> = {};
  for (const k of known) {
    const dv = defaults[k];
    const v = k in named ? named[k] : dv;
    if (v === undefined) continue;
    const at = `${where}.${k}`;
    if (dv === undefined) {
      out[k] = Array.isArray(v) ? [...v] : v;
    } else if (kindOf(dv) === "object") {
      checkType(at, v, dv);
      out[k] = fill(at, v as Record<string, unknown>, dv as Record<string, unknown>, new Set());
    } else {
      checkType(at, v, dv, k === "targetModules" || k === "modulesToSave" ? "string" : undefined);
      out[k] = Array.isArray(v) ? [...v] : v;
    }
  }
  return out;
}

/**
 * Applies the method's defaults to `raw` and validates it. Keys may be camelCase or PEFT's
 * snake_case (`target_modules`); an unknown key, a wrong type or an out-of-range value is a
 * ConfigError naming the field, and an unknown method lists the valid ones. Idempotent.
 *
 * @example
 * parsePeftConfig({ method: "lora", rank: 4, targetModules: ["attn.q", "attn.v"] });
 */
export function parsePeftConfig(raw: unknown): PeftConfig {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`peft config must be a JSON object with a "method" field, got ${JSON.stringify(raw)}`);
  }
  const obj = raw as Record<string, unknown>;
  if (obj.method === undefined) throw new ConfigError(`peft config: missing field "method"; expected one of ${allMethods().map((m) => m.name).join(", ")}`);
  if (typeof obj.method !== "string") throw new ConfigError(`peft config: "method" must be a string, got ${JSON.stringify(obj.method)}`);
  const m = getMethod(obj.method);
  const id = m.name;
  const defaults = m.defaults as unknown as Record<string, unknown>;
  const given = { ...obj };
  delete given.method;
  const optional = new Set<string>([...OPTIONAL_COMMON, ...(m.optionalFields ?? [])]);
  const cfg: Record<string, unknown> = { method: id, ...fill(id, given, defaults, optional) };
  for (const k of OPTIONAL_COMMON) if (k in cfg) checkType(`${id}.${k}`, cfg[k], [], k === "layers" ? "integer" : "string");

  const common = cfg as unknown as GenericPeftConfig;
  for (const f of ["targetModules", "excludeModules"] as const) for (const p of common[f] ?? []) patternRegex(p, `${id}.${f}`);
  const layers = common.layers ?? [];
  if (new Set(layers).size !== layers.length) throw new ConfigError(`${id}.layers lists a block twice: ${JSON.stringify(layers)}`);
  m.validate(common);
  return cfg as unknown as PeftConfig;
}
