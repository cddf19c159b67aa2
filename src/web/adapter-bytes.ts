/**
 * @file The two adapter files `snell train` writes (adapter_config.json, adapter_model.safetensors),
 * as bytes rather than a folder, for a web page's downloads. Same content as adapter-io's
 * saveAdapterFiles (a test compares them byte for byte).
 * TODO(web): use adapter-io's byte-level half once the runtime seam splits it out.
 */
import { encodeSafetensors } from "../checkpoint/safetensors.js";
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LIBRARY, type AdapterFileMeta } from "../peft/adapter-io.js";
import type { PeftModel } from "../peft/apply.js";

/** File name -> bytes of an adapter folder. */
export type AdapterFiles = Record<typeof ADAPTER_CONFIG_FILE | typeof ADAPTER_WEIGHTS_FILE, Uint8Array>;

/**
 * The adapter files of `pm`. `library` names the writer (the page passes the version baked into its
 * bundle, where package.json cannot be read).
 *
 * @example
 * const files = adapterFileBytes(pm);
 * fs.writeFileSync("adapter/adapter_config.json", files["adapter_config.json"]);
 */
export function adapterFileBytes(pm: PeftModel, library: { name: string; version: string } = LIBRARY): AdapterFiles {
  const meta: AdapterFileMeta = {
    peft_type: pm.config.method.toUpperCase(),
    base_model_name_or_path: pm.baseName,
    base_model: { fingerprint: pm.baseFingerprint(), config: pm.cfg, num_params: pm.baseNames.reduce((n, k) => n + pm.params.get(k).data.length, 0) },
    library: library.name,
    library_version: library.version,
  };
  const tensors = new Map(pm.savedNames().map((n) => {
    const p = pm.params.get(n);
    return [n, { shape: p.shape, data: p.data }] as const;
  }));
  return {
    [ADAPTER_WEIGHTS_FILE]: encodeSafetensors(tensors, { format: library.name, method: pm.config.method, base_fingerprint: meta.base_model.fingerprint }),
    [ADAPTER_CONFIG_FILE]: new TextEncoder().encode(JSON.stringify({ ...pm.config, ...meta }, null, 2) + "\n"),
  } as AdapterFiles;
}
