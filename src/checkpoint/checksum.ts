/**
 * @file Per-tensor sha256 checksums kept in a safetensors file's `__metadata__`, so flipped bytes in a
 * checkpoint or adapter are reported as corruption instead of training into NaN or evaluating wrong.
 * The digest comes from the host (src/platform: node:crypto in Node, a TypeScript sha256 in browsers).
 */
import { platform } from "#platform";
import { FormatError } from "../errors.js";

/** The `__metadata__` key: a JSON object { tensor name: sha256 hex of its data bytes }. */
export const CHECKSUM_KEY = "tensor_sha256";

/** sha256 (hex) of a tensor's payload bytes as they lie in the file. */
export function payloadSha256(bytes: Uint8Array): string {
  return platform.sha256Hex(bytes);
}

/**
 * Parses the checksum entry of a header; undefined when the file has none (older or foreign files load
 * unchecked). Every tensor must be listed, and nothing else: a mismatch means the header was damaged.
 */
export function parseChecksums(raw: string | undefined, names: readonly string[], source: string): Map<string, string> | undefined {
  if (raw === undefined) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    o = null;
  }
  const ok = o !== null && typeof o === "object" && !Array.isArray(o) &&
    Object.values(o as object).every((v) => typeof v === "string" && /^[0-9a-f]{64}$/.test(v));
  if (!ok) throw corrupt(source, `its "${CHECKSUM_KEY}" metadata is not a map of sha256 digests`);
  const sums = new Map(Object.entries(o as Record<string, string>));
  const listed = new Set(names);
  const extra = [...sums.keys()].find((k) => !listed.has(k));
  const missing = names.find((n) => !sums.has(n));
  if (extra !== undefined || missing !== undefined) {
    throw corrupt(source, `the checksum list and the tensors differ (${missing !== undefined ? `"${missing}" has no checksum` : `"${extra}" is not in the file`})`);
  }
  return sums;
}

/** Throws when `bytes` (the payload of tensor `name`) does not hash to its stored checksum. */
export function verifyPayload(sums: Map<string, string> | undefined, name: string, bytes: Uint8Array, source: string): void {
  if (sums === undefined) return;
  if (payloadSha256(bytes) !== sums.get(name)) {
    throw corrupt(source, `the data of tensor "${name}" does not match its sha256 checksum (bytes changed after the file was written)`);
  }
}

function corrupt(source: string, why: string): FormatError {
  return new FormatError(`${source} is corrupt: ${why}; restore it from a copy or write it again`);
}
