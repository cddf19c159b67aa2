/**
 * @file A full V8 garbage collection on demand, for the moment a large graph has been handed to ORT.
 * Building and writing a step graph leaves tens of MiB of dead JS (the IR's nodes and constants, the
 * ModelProto bytes) that V8 may not collect for many steps, since a step allocates little JS; that
 * garbage then sits under the step's peak RSS (Swin-B SNELL-8: RSS after compilation 667 -> 613 MiB,
 * peak 3067-3132 -> 3019-3028 MiB). The host does it (src/platform): V8's gc in Node, nothing in browsers.
 */
import { platform } from "#platform";

/** Runs a full collection; V8 returns the freed pages it no longer needs to the OS. */
export function collectGarbage(): void {
  platform.collectGarbage();
}
