/**
 * @file Which sites a PEFT config adapts: suffix or "/regex/" target patterns, an exclude list and
 * block indices, as HF PEFT's `target_modules` / `exclude_modules` / `layers_to_transform`.
 */
import { ConfigError } from "../errors.js";
import type { SiteInfo } from "./method.js";

/** The selection fields every method config carries. */
export interface TargetSelection {
  /** Suffixes of site paths on component boundaries ("attn.q", "mlp.fc1", "head"), or "/regex/" matched against the whole path. */
  targetModules: readonly string[];
  /** Same syntax; a site matched here is dropped even when a target matches it. */
  excludeModules?: readonly string[];
  /** Block indices to adapt; sites outside blocks (head) are kept only when no layer list is given. */
  layers?: readonly number[];
}

/** Parses "/body/flags" into a RegExp (anchored to the whole path, as PEFT's re.fullmatch); null for a plain suffix. */
export function patternRegex(pattern: string, where = "targetModules"): RegExp | null {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  if (!m) return null;
  try {
    return new RegExp(`^(?:${m[1]})$`, m[2]);
  } catch (cause) {
    throw new ConfigError(`${where}: invalid regex ${pattern} (${(cause as Error).message})`, { cause });
  }
}

/**
 * True when `pattern` selects `path`: a regex must match the whole path; a plain pattern must equal
 * the path or be a suffix starting at a "." boundary ("attn.q" matches "blocks.3.attn.q", "q" too,
 * but "fc1" does not match "blocks.0.mlp.xfc1").
 */
export function matchesPattern(path: string, pattern: string, where = "targetModules"): boolean {
  const re = patternRegex(pattern, where);
  if (re) return re.test(path);
  return path === pattern || path.endsWith(`.${pattern}`);
}

/** Site paths without their block prefixes ("blocks.3.attn.q", "layers.1.blocks.0.attn.q" -> "attn.q"), once each. */
export function moduleKinds(sites: readonly SiteInfo[]): string[] {
  return [...new Set(sites.map((s) => s.path.replace(/^(?:[A-Za-z_]+\.\d+\.)+/, "")))];
}

/**
 * Sites selected by targets, minus excludes, restricted to `layers`. Throws ConfigError naming a
 * target pattern that matches no site, an exclude pattern that matches nothing, or a layer index
 * outside the model.
 *
 * @example
 * selectSites(backboneOf(cfg).sites(cfg), { targetModules: ["attn.q", "attn.v"], layers: [0, 1] });
 */
export function selectSites(sites: readonly SiteInfo[], sel: TargetSelection, where = "peft"): SiteInfo[] {
  const blocks = new Set(sites.map((s) => s.block).filter((b): b is number => b !== null));
  for (const l of sel.layers ?? []) {
    if (!blocks.has(l)) throw new ConfigError(`${where}.layers: block ${l} does not exist; the model has blocks 0..${blocks.size - 1}`);
  }
  for (const t of sel.targetModules) {
    if (!sites.some((s) => matchesPattern(s.path, t, `${where}.targetModules`))) {
      throw new ConfigError(`${where}.targetModules: "${t}" matches no module; adaptable modules are ${moduleKinds(sites).join(", ")} (path suffixes, or "/regex/")`);
    }
  }
  for (const e of sel.excludeModules ?? []) {
    if (!sites.some((s) => matchesPattern(s.path, e, `${where}.excludeModules`))) {
      throw new ConfigError(`${where}.excludeModules: "${e}" matches no module`);
    }
  }
  const layers = sel.layers ? new Set(sel.layers) : null;
  const out = sites.filter((s) =>
    sel.targetModules.some((t) => matchesPattern(s.path, t)) &&
    !(sel.excludeModules ?? []).some((e) => matchesPattern(s.path, e)) &&
    (layers === null || (s.block !== null && layers.has(s.block))));
  if (sel.targetModules.length > 0 && out.length === 0) {
    throw new ConfigError(`${where}: targetModules ${JSON.stringify(sel.targetModules)} minus excludeModules/layers leaves no module to adapt`);
  }
  return out;
}

/**
 * Parameter names selected by `modulesToSave` prefixes ("head" -> head.weight, head.bias;
 * "cls_token" -> cls_token). Returns, per prefix, the names it matched.
 */
export function matchModulesToSave(names: readonly string[], prefixes: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of prefixes) out.set(p, names.filter((n) => n === p || n.startsWith(`${p}.`)));
  return out;
}

/** Fields every method's config has (HF PEFT's target_modules, exclude_modules, layers_to_transform, modules_to_save). */
export interface PeftCommonConfig extends TargetSelection {
  /** Backbone parameters trained as well, by timm key prefix ("head" -> head.weight, head.bias). */
  modulesToSave: readonly string[];
}
