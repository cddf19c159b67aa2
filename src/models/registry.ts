/**
 * @file Backbones by `arch` and model names by backbone: the one place that maps a config or a
 * `--model` name to the architecture that builds it (HF's AutoModel mapping, in small).
 */
import { ConfigError, InternalError, unknownName } from "../errors.js";
import type { Backbone, BackboneConfigBase, ModelVariant } from "./backbone.js";
import { convnext } from "./convnext.js";
import { swin } from "./swin.js";
import { vit } from "./vit.js";

/** The arch a config names; configs stored before backbones had names are ViTs. */
export const DEFAULT_ARCH = "vit";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each entry is typed by its own config
type AnyBackbone = Backbone<any>;

const backbones = new Map<string, AnyBackbone>();

/**
 * Makes `b` available to getBackbone/backboneOf and its variants to resolveVariant. The built-in
 * backbones register in models/backbones.ts; tests and users may add their own. Registering a
 * second object under a taken arch is refused (the same object again is a no-op).
 */
export function registerBackbone<C extends BackboneConfigBase>(b: Backbone<C>): void {
  const had = backbones.get(b.arch);
  if (had && had !== b) throw new ConfigError(`backbone "${b.arch}" is already registered`);
  backbones.set(b.arch, b);
}

/** Registered arch names, in registration order. */
export function backboneArchs(): string[] {
  return [...backbones.keys()];
}

/** The backbone registered as `arch`; ConfigError listing the known ones. */
export function getBackbone(arch: string): AnyBackbone {
  const b = backbones.get(arch);
  if (!b) throw unknownName("backbone arch", arch, backbones.keys());
  return b;
}

/** The backbone that builds `cfg` (by cfg.arch, "vit" when absent). */
export function backboneOf(cfg: BackboneConfigBase): AnyBackbone {
  return getBackbone(cfg.arch ?? DEFAULT_ARCH);
}

/** Every weight layout any registered backbone names (its checkpointLayouts), once each. */
export function checkpointLayouts(): string[] {
  return [...new Set([...backbones.values()].flatMap((b) => b.checkpointLayouts ?? []))];
}

/** Every model name any registered backbone answers to. */
export function variantNames(): string[] {
  return [...backbones.values()].flatMap((b) => b.variants?.names() ?? []);
}

/**
 * Resolves a model name ("vit_base_patch16_224.orig_in21k", "swin_base_patch4_window7_224") through
 * every registered backbone's variants; `overrides` must be fields of that backbone's config.
 * ConfigError listing valid names when none knows it.
 */
export function resolveVariant(name: string, overrides: Readonly<Record<string, unknown>> = {}): ModelVariant {
  for (const b of backbones.values()) {
    if (!b.variants) continue;
    if (!b.variants.names().includes(name)) continue;
    checkConfigKeys(b, overrides);
    // `arch` picks the backbone, it is no override (a ViT config stays without it).
    const { arch: _arch, ...rest } = overrides;
    const v = b.variants.resolve(name, rest);
    if (!v) throw new InternalError(`model "${name}" is listed by backbone "${b.arch}" but does not resolve`);
    // ViT configs carry no arch (adapter files stay as they were); every other backbone's must name itself.
    if (backboneOf(v.config) !== b) throw new InternalError(`model "${name}" of backbone "${b.arch}" resolved to a config with arch "${v.config.arch ?? DEFAULT_ARCH}"`);
    return v;
  }
  throw unknownName("model", name, variantNames());
}

/**
 * Throws ConfigError naming the first key that is not a field of `b`'s config, listing the valid ones
 * (`arch` itself may be given when it names `b`: a stored config carries it).
 */
export function checkConfigKeys(b: AnyBackbone, over: Readonly<Record<string, unknown>>): void {
  for (const [k, v] of Object.entries(over)) {
    if (k === "arch" && (v === undefined || v === b.arch)) continue;
    if (k === "arch") throw new ConfigError(`--arch: arch=${JSON.stringify(v)}, but the model is a ${b.arch}`);
    if (!b.configKeys.includes(k)) throw new ConfigError(`--arch: unknown key "${k}"; expected one of ${b.configKeys.join(", ")} (${b.arch} config)`);
  }
}

// The built-in backbones (a new architecture file adds its line here).
registerBackbone(vit);
registerBackbone(convnext);
registerBackbone(swin);
