/** @file node:os for the browser build: the two figures the library asks for. */

/** Cores the page may use (navigator.hardwareConcurrency). */
export function availableParallelism(): number {
  return globalThis.navigator?.hardwareConcurrency ?? 1;
}

/** The wasm heap's 4 GiB cap stands in for the machine's memory (models/memory-estimate.ts refuses larger models). */
export function totalmem(): number {
  return 4 * 2 ** 30;
}
