/**
 * @file The browser platform (see types.ts): no files, no process figures; package.json maps
 * `#platform` here under every condition but "node", so bundlers for browsers pick it.
 */
import { ConfigError } from "../errors.js";
import { sha256Hex } from "./sha256.js";
import type { Platform } from "./types.js";

/** The page's bundler may define it (esbuild `define: { SNELL_VERSION: '"0.1.0"' }`). */
declare const SNELL_VERSION: string | undefined;

function noFiles(what: string): never {
  throw new ConfigError(`${what} needs a file system, which this runtime (a browser) does not have; ` +
    "use the byte-level functions instead (peft.encodeAdapter / peft.applyAdapterFiles, onnx.writeModel)");
}

const parts = (p: string) => p.split("/").filter((s) => s !== "");

export const platform: Platform = {
  name: "web",
  availableParallelism: () => (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1,
  totalMemoryBytes: () => null,
  peakRssMiB: () => NaN,
  currentRssMiB: () => NaN,
  collectGarbage: () => {},
  sha256Hex,
  libraryVersion: () => (typeof SNELL_VERSION === "string" ? SNELL_VERSION : "0.0.0"),
  joinPath: (...ps) => ps.flatMap(parts).join("/"),
  basename: (p) => parts(p).pop() ?? "",
  readFile: (file) => noFiles(`reading ${file}`),
  writeFileAtomic: (file) => noFiles(`writing ${file}`),
  writeFolderAtomic: (dir) => noFiles(`writing folder ${dir}`),
  openFileSink: (file) => noFiles(`writing ${file}`),
};
