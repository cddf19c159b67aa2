/**
 * @file A method's default targets and trained modules on a given backbone (HF PEFT's per-model-type
 * target-module mapping). Methods write their defaults once, in the names the backbones share
 * ("attn.q" ... "mlp.fc2"; "head", "cls_token"); a config that still holds its method's default is
 * given the backbone's counterpart, so SNELL on ConvNeXt adapts mlp.fc1/fc2 without the user naming
 * them. A list the user wrote (anything but the method's default) is kept as written.
 */
import type { Backbone, BackboneConfigBase } from "../models/backbone.js";
import type { PeftConfig } from "./config.js";
import { getMethod, type AnyPeftMethod, type GenericPeftConfig } from "./registry.js";

const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The method's default targets the backbone adapts by default; all of the backbone's when it has none of them. */
export function defaultTargetsFor(method: AnyPeftMethod, backbone: Backbone): string[] {
  const d = method.defaults.targetModules;
  if (d.length === 0) return [];
  const own = d.filter((t) => backbone.defaultTargets.includes(t));
  return own.length > 0 ? own : [...backbone.defaultTargets];
}

/**
 * A default of ["head"] alone means the classifier only (linear probe, BitFit): the backbone's
 * classifier site. A longer default means "what the authors train besides adapters": the
 * backbone's defaultTrained (ViT head + cls_token, ConvNeXt head.fc + head.norm).
 */
export function defaultTrainedFor(method: AnyPeftMethod, backbone: Backbone, cfg: BackboneConfigBase): string[] {
  const d = method.defaults.modulesToSave;
  if (d.length === 0) return [];
  if (same(d, ["head"])) {
    const head = backbone.sites(cfg).find((s) => s.block === null);
    return [head?.path ?? backbone.defaultTrained[0] ?? "head"];
  }
  return [...backbone.defaultTrained];
}

/** `cfg` with a default targetModules / modulesToSave replaced by the backbone's (the same lists on ViT). */
export function backboneDefaults(cfg: PeftConfig, backbone: Backbone, modelCfg: BackboneConfigBase): PeftConfig {
  const method = getMethod(cfg.method);
  const g = cfg as unknown as GenericPeftConfig;
  const targetModules = same(g.targetModules, method.defaults.targetModules) ? defaultTargetsFor(method, backbone) : g.targetModules;
  const modulesToSave = same(g.modulesToSave, method.defaults.modulesToSave) ? defaultTrainedFor(method, backbone, modelCfg) : g.modulesToSave;
  return { ...cfg, targetModules, modulesToSave } as PeftConfig;
}
