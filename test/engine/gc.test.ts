/** @file collectGarbage(): a real full collection, with no global `gc` left behind. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { collectGarbage } from "../../src/runtime/gc.js";

test("collectGarbage frees an unreachable object and leaves no global gc", async () => {
  let big: { data: Float64Array } | null = { data: new Float64Array(1 << 16) };
  const ref = new WeakRef(big);
  big = null;
  // A WeakRef's target stays alive until the job that created or read it ends.
  await new Promise((r) => setImmediate(r));
  collectGarbage();
  assert.equal(ref.deref(), undefined, "the object survived the collection");
  assert.equal((globalThis as { gc?: unknown }).gc, undefined);
});
