/**
 * @file Adapter folders: the two files of adapter-bytes.ts written and read through the host's file
 * system (src/platform), replaced as a whole so a kill never pairs one run's weights with another's config.
 */
import { platform } from "#platform";
import { FormatError } from "../errors.js";
import {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, type AdapterFileMeta, applyAdapterFiles, encodeAdapter, parseAdapterConfig,
} from "./adapter-bytes.js";
import { applyAdapters, type BaseModel, type PeftModel } from "./apply.js";
import type { PeftConfig } from "./config.js";

export { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LIBRARY, type AdapterFileMeta } from "./adapter-bytes.js";

function readText(file: string): string {
  try {
    return new TextDecoder().decode(platform.readFile(file));
  } catch (cause) {
    throw new FormatError(`${file}: cannot read adapter config (${(cause as Error).message})`, { cause });
  }
}

/** Reads and splits an adapter_config.json into the method config (parsed, validated) and the metadata. */
export function readAdapterConfig(dir: string): { config: PeftConfig; meta: AdapterFileMeta } {
  const file = platform.joinPath(dir, ADAPTER_CONFIG_FILE);
  return parseAdapterConfig(readText(file), file);
}

/**
 * Writes the two adapter files of `pm` as folder `dir`, replacing any previous adapter there as a whole
 * (temp folder + rename), so a kill never leaves one run's weights beside another's config.
 */
export function saveAdapterFiles(pm: PeftModel, dir: string): void {
  platform.writeFolderAtomic(dir, { ...encodeAdapter(pm) });
}

/** Checks `dir` was saved from the same base and config as `pm`, then copies its tensors into `pm.params`. */
export function loadAdapterFiles(pm: PeftModel, dir: string, { ignoreBaseName = false }: { ignoreBaseName?: boolean } = {}): void {
  const configFile = platform.joinPath(dir, ADAPTER_CONFIG_FILE);
  const weightsFile = platform.joinPath(dir, ADAPTER_WEIGHTS_FILE);
  const config = readText(configFile);
  // The config is checked before the weights are read: a mismatch is reported without reading them.
  const files = {
    [ADAPTER_CONFIG_FILE]: config,
    get [ADAPTER_WEIGHTS_FILE]() {
      try {
        return platform.readFile(weightsFile);
      } catch (cause) {
        throw new FormatError(`${weightsFile}: cannot open (${(cause as Error).message})`, { cause });
      }
    },
  };
  applyAdapterFiles(pm, files, { ignoreBaseName, source: { where: `adapter ${dir}`, configFile, weightsFile } });
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
