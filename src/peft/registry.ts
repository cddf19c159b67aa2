/**
 * @file The built-in PEFT methods as a literal table, plus `registerMethod()` for third-party ones
 * with HF PEFT's registration checks (lower-case id, unique prefix, prefix matches the tensors created).
 */
import { ConfigError, unknownName } from "../errors.js";
import { ParameterStore } from "../ir/parameters.js";
import { Rng } from "../random.js";
import { adapter } from "./adapter/index.js";
import { bitfit } from "./bitfit/index.js";
import { full } from "./full/index.js";
import { linear } from "./linear/index.js";
import { lora } from "./lora/index.js";
import type { PeftMethod, SiteInfo } from "./method.js";
import { snell } from "./snell/index.js";
import { snella } from "./snella/index.js";
import type { PeftCommonConfig } from "./targets.js";

/** Built-in methods by id. */
export const METHODS = { snell, snella, lora, adapter, bitfit, linear, full } as const;
export type MethodName = keyof typeof METHODS;

/** The config shape every method shares; a method's own config extends it. */
export type GenericPeftConfig = PeftCommonConfig & { method: string };
/** A method of any config type. */
export type AnyPeftMethod = PeftMethod<GenericPeftConfig>;

const extra = new Map<string, AnyPeftMethod>();

/** Built-in then registered methods. */
export function allMethods(): AnyPeftMethod[] {
  return [...(Object.values(METHODS) as AnyPeftMethod[]), ...extra.values()];
}

/** Looks a method up by id; an unknown id lists the valid ones. */
export function getMethod(name: string): AnyPeftMethod {
  const m = allMethods().find((x) => x.name === name);
  if (!m) throw unknownName("method", name, allMethods().map((x) => x.name));
  return m;
}

/** A small square linear inside a block, named after no backbone, used to dry-run a method's `init`. */
const PROBE_SITE: SiteInfo = { path: "blocks.0.probe", nIn: 24, nOut: 24, block: 0, kind: "probe" };

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

/**
 * Checks `m` as `registerMethod` would, against the methods in `others` (default: all known).
 * Throws ConfigError naming the method and the rule it breaks.
 */
export function checkMethod(m: AnyPeftMethod, others: readonly AnyPeftMethod[] = allMethods()): void {
  const id = typeof m?.name === "string" ? m.name : String(m?.name);
  const where = `method "${id}"`;
  if (!/^[a-z][a-z0-9_]*$/.test(id)) throw new ConfigError(`${where}: the id must be lower-case letters, digits and "_", starting with a letter`);
  if (typeof m.prefix !== "string" || !/^[a-z][a-z0-9_]*_$/.test(m.prefix)) {
    throw new ConfigError(`${where}: prefix must be lower-case and end with "_" (e.g. "${id}_"), got ${JSON.stringify(m.prefix)}`);
  }
  for (const o of others) {
    if (o === m) continue;
    if (o.name === id) throw new ConfigError(`${where}: the id is taken by another method`);
    if (o.prefix.startsWith(m.prefix) || m.prefix.startsWith(o.prefix)) {
      throw new ConfigError(`${where}: prefix "${m.prefix}" is not unique; it overlaps "${o.prefix}" of method "${o.name}"`);
    }
  }
  for (const f of ["validate", "init", "adapt"] as const) {
    if (typeof m[f] !== "function") throw new ConfigError(`${where}: "${f}" must be a function`);
  }
  const d = m.defaults as Partial<PeftCommonConfig> | undefined;
  if (!d || !isStrings(d.targetModules) || !isStrings(d.modulesToSave)) {
    throw new ConfigError(`${where}: defaults must include targetModules and modulesToSave (string arrays)`);
  }
  const cfg = { ...m.defaults, method: id } as GenericPeftConfig;
  try {
    m.validate(cfg);
  } catch (cause) {
    throw new ConfigError(`${where}: its own defaults fail its validate(): ${(cause as Error).message}`, { cause });
  }
  checkCreated(m, PROBE_SITE, () => {
    const ps = new ParameterStore();
    m.init(ps, PROBE_SITE, cfg, new Rng(0));
    return ps.list().map((p) => p.name);
  });
}

/**
 * Runs `create` (which initialises `site`) and checks that every tensor it made is named
 * `<site.path>.<prefix>...`; returns the names. Used at registration and on every real init.
 */
export function checkCreated(m: AnyPeftMethod, site: SiteInfo, create: () => string[]): string[] {
  let created: string[];
  try {
    created = create();
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(`method "${m.name}": init failed on site "${site.path}": ${(cause as Error).message}`, { cause });
  }
  const want = `${site.path}.${m.prefix}`;
  const bad = created.filter((n) => !n.startsWith(want) || n.slice(want.length).length === 0 || n.slice(site.path.length + 1).includes("."));
  if (bad.length) {
    throw new ConfigError(`method "${m.name}": init created ${bad.map((n) => `"${n}"`).join(", ")}; every tensor must be named "${want}<name>" (prefix "${m.prefix}", no further ".")`);
  }
  return created;
}

/**
 * Adds a third-party method after the registration checks; built-ins are not replaced.
 *
 * @example
 * registerMethod({ name: "ia3", prefix: "ia3_", defaults, validate, init, adapt });
 */
export function registerMethod<C extends GenericPeftConfig>(m: PeftMethod<C>): void {
  checkMethod(m as unknown as AnyPeftMethod);
  extra.set(m.name, m as unknown as AnyPeftMethod);
}

/** Removes a registered third-party method (tests, plugins reloading); built-ins stay. */
export function unregisterMethod(name: string): boolean {
  return extra.delete(name);
}
