/**
 * @file Adapter files as HF PEFT lays them out: `adapter_config.json` (method config + base model
 * identity) and `adapter_model.safetensors` holding only the trained tensors.
 *
 * Tensor keys are our parameter names, not PEFT's "base_model.model.<module>.lora_A.weight": ours are
 * timm keys plus `<site>.<prefix><name>` (e.g. "blocks.0.attn.q.lora_A"), and the layouts differ from
 * PEFT's anyway (our LoRA A is [nIn, r], PEFT's lora_A.weight is [r, nIn]), so a PEFT-named file
 * would promise an interchange that does not exist. The metadata says `format: snell-ts`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, FormatError } from "../errors.js";
import { writeFileAtomic } from "../checkpoint/atomic.js";
import { replaceDirAtomic } from "../checkpoint/atomic-dir.js";
import { readSafetensors, writeSafetensors } from "../checkpoint/safetensors.js";
import type { BackboneConfigBase } from "../models/backbone.js";
import { applyAdapters, type BaseModel, type PeftModel } from "./apply.js";
import { parsePeftConfig, type PeftConfig } from "./config.js";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** This library's name and version, written into adapter files. */
export const LIBRARY = { name: "snell-ts", version: libraryVersion() };

function libraryVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  } catch {
    return "0.0.0";
  }
}

/** What adapter_config.json holds besides the method config. */
export interface AdapterFileMeta {
  /** PEFT's peft_type spelling ("LORA", "SNELL"). */
  peft_type: string;
  base_model_name_or_path: string | null;
  /** `config` is the backbone's config (any registered arch; ViT configs written before archs had names lack `arch`). */
  base_model: { fingerprint: string; config: BackboneConfigBase; num_params: number };
  library: string;
  library_version: string;
}

const META_KEYS = ["peft_type", "base_model_name_or_path", "base_model", "library", "library_version"] as const;

/** Reads and splits an adapter_config.json into the method config (parsed, validated) and the metadata. */
export function readAdapterConfig(dir: string): { config: PeftConfig; meta: AdapterFileMeta } {
  const file = path.join(dir, ADAPTER_CONFIG_FILE);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (cause) {
    throw new FormatError(`${file}: cannot read adapter config (${(cause as Error).message})`, { cause });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new FormatError(`${file}: adapter config must be a JSON object`);
  const meta: Record<string, unknown> = {};
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) ((META_KEYS as readonly string[]).includes(k) ? meta : cfg)[k] = v;
  const bm = meta.base_model as AdapterFileMeta["base_model"] | undefined;
  if (!bm || typeof bm.fingerprint !== "string" || typeof bm.config !== "object") {
    throw new FormatError(`${file}: "base_model" with "fingerprint" and "config" is missing; was it written by saveAdapter?`);
  }
  let config: PeftConfig;
  try {
    config = parsePeftConfig(cfg);
  } catch (cause) {
    throw new ConfigError(`${file}: ${(cause as Error).message}`, { cause });
  }
  return { config, meta: meta as unknown as AdapterFileMeta };
}

/**
 * Writes the two adapter files of `pm` as folder `dir`, replacing any previous adapter there as a whole
 * (temp folder + rename), so a kill never leaves one run's weights beside another's config.
 */
export function saveAdapterFiles(pm: PeftModel, dir: string): void {
  const meta: AdapterFileMeta = {
    peft_type: pm.config.method.toUpperCase(),
    base_model_name_or_path: pm.baseName,
    base_model: { fingerprint: pm.baseFingerprint(), config: pm.cfg, num_params: pm.baseNames.reduce((n, k) => n + pm.params.get(k).data.length, 0) },
    library: LIBRARY.name,
    library_version: LIBRARY.version,
  };
  const tensors = new Map(pm.savedNames().map((n) => {
    const p = pm.params.get(n);
    return [n, { shape: p.shape, data: p.data }] as const;
  }));
  replaceDirAtomic(path.resolve(dir), (tmp) => {
    writeSafetensors(path.join(tmp, ADAPTER_WEIGHTS_FILE), tensors, { format: LIBRARY.name, method: pm.config.method, base_fingerprint: meta.base_model.fingerprint });
    writeFileAtomic(path.join(tmp, ADAPTER_CONFIG_FILE), JSON.stringify({ ...pm.config, ...meta }, null, 2) + "\n");
  });
}

/** Lists "field: a in the adapter, b here" for every differing top-level field. */
function differences(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])} in the adapter, ${JSON.stringify(b[k])} here`);
}

/** Checks `dir` was saved from the same base and config as `pm`, then copies its tensors into `pm.params`. */
export function loadAdapterFiles(pm: PeftModel, dir: string, { ignoreBaseName = false }: { ignoreBaseName?: boolean } = {}): void {
  const { config, meta } = readAdapterConfig(dir);
  const where = `adapter ${dir}`;
  const archDiff = differences(meta.base_model.config as unknown as Record<string, unknown>, pm.cfg as unknown as Record<string, unknown>);
  if (archDiff.length) throw new ConfigError(`${where} was trained on a different base model: ${archDiff.join("; ")}`);
  if (meta.base_model.fingerprint !== pm.baseFingerprint()) {
    throw new ConfigError(`${where} was trained on a base model with other parameter names or shapes (fingerprint ${meta.base_model.fingerprint.slice(0, 19)}... vs ${pm.baseFingerprint().slice(0, 19)}... here)`);
  }
  if (!ignoreBaseName && meta.base_model_name_or_path && pm.baseName && meta.base_model_name_or_path !== pm.baseName) {
    throw new ConfigError(`${where} was trained on base model "${meta.base_model_name_or_path}", this model is "${pm.baseName}" (pass ignoreBaseName to load anyway)`);
  }
  const cfgDiff = differences(config as unknown as Record<string, unknown>, pm.config as unknown as Record<string, unknown>);
  if (cfgDiff.length) throw new ConfigError(`${where} has another PEFT config than this model: ${cfgDiff.join("; ")} (use loadPeftModel to build the model from the file)`);

  const file = path.join(dir, ADAPTER_WEIGHTS_FILE);
  const tensors = readSafetensors(file);
  const want = pm.savedNames();
  const missing = want.filter((n) => !tensors.has(n));
  if (missing.length) throw new ConfigError(`${file}: missing tensors ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}`);
  const wanted = new Set(want);
  const unexpected = [...tensors.keys()].filter((n) => !wanted.has(n));
  if (unexpected.length) throw new ConfigError(`${file}: unexpected tensors ${unexpected.slice(0, 8).join(", ")}${unexpected.length > 8 ? ", ..." : ""}`);
  for (const n of want) {
    const t = tensors.get(n)!, p = pm.params.get(n);
    if (t.shape.join() !== p.shape.join()) throw new ConfigError(`${file}: tensor "${n}" has shape [${t.shape.join(", ")}], the model expects [${p.shape.join(", ")}]`);
  }
  for (const n of want) pm.params.set(n, Float32Array.from(tensors.get(n)!.data));
}

/**
 * Builds a PeftModel from an adapter folder (HF PEFT's PeftModel.from_pretrained): config from the
 * file, adapters applied to `base`, tensors loaded after the base model check.
 */
export function loadPeftModel(base: BaseModel, dir: string, opts: { ignoreBaseName?: boolean } = {}): PeftModel {
  const { config } = readAdapterConfig(dir);
  const pm = applyAdapters(base, config, { seed: 0 });
  pm.loadAdapter(dir, opts);
  return pm;
}
