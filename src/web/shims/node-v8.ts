/** @file node:v8 and node:vm for the browser build: runtime/gc.ts's forced collection becomes a no-op. */

export function setFlagsFromString(_flags: string): void {}

/** runtime/gc.ts asks a fresh context for `gc`; the page has none to force, so it gets a no-op. */
export function runInNewContext(_code: string): () => void {
  return () => {};
}
