/**
 * @file Adapter files as bytes, as HF PEFT lays them out: `adapter_config.json` (method config + base
 * model identity) and `adapter_model.safetensors` holding only the trained tensors. No file system, so
 * a browser page can offer them as downloads and load them from a picked folder; adapter-io.ts puts
 * them in folders.
 *
 * Tensor keys are our parameter names, not PEFT's "base_model.model.<module>.lora_A.weight": ours are
 * timm keys plus `<site>.<prefix><name>` (e.g. "blocks.0.attn.q.lora_A"), and the layouts differ from
 * PEFT's anyway (our LoRA A is [nIn, r], PEFT's lora_A.weight is [r, nIn]), so a PEFT-named file
 * would promise an interchange that does not exist. The metadata says `format: snell-ts`.
 */
import { platform } from "#platform";
import { encodeSafetensors, parseSafetensors } from "../checkpoint/safetensors-bytes.js";
import { ConfigError, FormatError } from "../errors.js";
import type { BackboneConfigBase } from "../models/backbone.js";
import type { PeftModel } from "./apply.js";
import { parsePeftConfig, type PeftConfig } from "./config.js";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** The two files of an adapter, by file name: the config as JSON text, the tensors as safetensors bytes. */
export interface AdapterFiles {
  [ADAPTER_CONFIG_FILE]: string;
  [ADAPTER_WEIGHTS_FILE]: Uint8Array;
}

/** This library's name and version, written into adapter files. */
export const LIBRARY = { name: "snell-ts", version: platform.libraryVersion() };

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

/** Splits adapter_config.json's text into the method config (parsed, validated) and the metadata; `source` names it in errors. */
export function parseAdapterConfig(text: string, source: string): { config: PeftConfig; meta: AdapterFileMeta } {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new FormatError(`${source}: cannot read adapter config (${(cause as Error).message})`, { cause });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new FormatError(`${source}: adapter config must be a JSON object`);
  const meta: Record<string, unknown> = {};
  const cfg: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) ((META_KEYS as readonly string[]).includes(k) ? meta : cfg)[k] = v;
  const bm = meta.base_model as AdapterFileMeta["base_model"] | undefined;
  if (!bm || typeof bm.fingerprint !== "string" || typeof bm.config !== "object") {
    throw new FormatError(`${source}: "base_model" with "fingerprint" and "config" is missing; was it written by saveAdapter?`);
  }
  let config: PeftConfig;
  try {
    config = parsePeftConfig(cfg);
  } catch (cause) {
    throw new ConfigError(`${source}: ${(cause as Error).message}`, { cause });
  }
  return { config, meta: meta as unknown as AdapterFileMeta };
}

/**
 * The adapter files of `pm`, byte for byte what `pm.saveAdapter(dir)` writes.
 *
 * @example
 * const files = encodeAdapter(pm);
 * const blob = new Blob([files["adapter_model.safetensors"]]); // a download in a page
 */
export function encodeAdapter(pm: PeftModel): AdapterFiles {
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
  return {
    [ADAPTER_CONFIG_FILE]: JSON.stringify({ ...pm.config, ...meta }, null, 2) + "\n",
    [ADAPTER_WEIGHTS_FILE]: encodeSafetensors(tensors, { format: LIBRARY.name, method: pm.config.method, base_fingerprint: meta.base_model.fingerprint }),
  };
}

/** Lists "field: a in the adapter, b here" for every differing top-level field. */
function differences(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])} in the adapter, ${JSON.stringify(b[k])} here`);
}

/** Where adapter files came from, for error messages: the adapter as a whole and each file. */
export interface AdapterSource {
  /** "adapter runs/x/adapter" */
  where: string;
  configFile: string;
  weightsFile: string;
}

/** Refuses an adapter saved from another base model or config than `pm` (ConfigError naming what differs). */
function checkSameModel(pm: PeftModel, config: PeftConfig, meta: AdapterFileMeta, where: string, ignoreBaseName: boolean): void {
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
}

/**
 * Checks `files` were saved from the same base and config as `pm`, then copies their tensors into
 * `pm.params` (what `pm.loadAdapter(dir)` does with a folder).
 *
 * @example
 * applyAdapterFiles(pm, { "adapter_config.json": text, "adapter_model.safetensors": bytes });
 */
export function applyAdapterFiles(pm: PeftModel, files: AdapterFiles, { ignoreBaseName = false, source }: { ignoreBaseName?: boolean; source?: AdapterSource } = {}): void {
  const src = source ?? { where: "adapter", configFile: ADAPTER_CONFIG_FILE, weightsFile: ADAPTER_WEIGHTS_FILE };
  const { config, meta } = parseAdapterConfig(files[ADAPTER_CONFIG_FILE], src.configFile);
  checkSameModel(pm, config, meta, src.where, ignoreBaseName);
  const file = src.weightsFile;
  const tensors = parseSafetensors(files[ADAPTER_WEIGHTS_FILE], file).tensors;
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
