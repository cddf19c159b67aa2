/** @file node:crypto for the browser build: createHash("sha256"), the one hash the library uses, and randomBytes. */
import { Sha256 } from "./sha256.js";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

/** node:crypto's createHash for "sha256"; any other algorithm throws. */
export function createHash(algorithm: string) {
  if (algorithm !== "sha256") throw new Error(`createHash: only sha256 exists in the browser build, got "${algorithm}"`);
  const h = new Sha256();
  const api = {
    update(data: string | Uint8Array) {
      h.update(typeof data === "string" ? new TextEncoder().encode(data) : data);
      return api;
    },
    digest(encoding: "hex") {
      if (encoding !== "hex") throw new Error(`digest: only "hex" exists in the browser build`);
      return hex(h.digest());
    },
  };
  return api;
}

/** node:crypto's randomBytes (temp-file names in checkpoint/atomic.ts), from the browser's crypto. */
export function randomBytes(n: number) {
  const b = globalThis.crypto.getRandomValues(new Uint8Array(n));
  return { toString: (encoding: "hex") => (encoding === "hex" ? hex(b) : String(b)) };
}
