/**
 * The `snell web` page bundle: built for browsers through the runtime seam (onnxruntime-web and the
 * web platform, never onnxruntime-node or platform/node.ts), and the Node modules it replaces by empty
 * ones are reached only through data-loading files the page never calls.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { buildPage } from "../../src/web/bundle.js";

test("the page bundles onnxruntime-web and platform/web.ts; Node modules are emptied only under src/data", async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "snell-web-bundle-"));
  try {
    const r = await buildPage(out);
    assert.ok(fs.statSync(path.join(out, "app.js")).size > 100_000);
    assert.ok(fs.readFileSync(path.join(out, "index.html"), "utf8").includes('src="app.js"'));
    assert.ok(r.inputs.some((i) => i.includes("node_modules/onnxruntime-web/")), "onnxruntime-web is bundled");
    assert.ok(r.inputs.includes("src/platform/web.ts"), "the browser platform is bundled");
    assert.deepEqual(r.inputs.filter((i) => i.includes("onnxruntime-node") || i === "src/platform/node.ts"), []);
    for (const i of ["src/web/fine-tune.ts", "src/train/stepper.ts", "src/peft/adapter-bytes.ts", "src/peft/export.ts"]) assert.ok(r.inputs.includes(i), i);
    const outside = Object.entries(r.emptied).flatMap(([m, from]) => from.filter((f) => !f.startsWith("src/data/")).map((f) => `${m} <- ${f}`));
    assert.deepEqual(outside, [], "a Node module reached the page outside src/data (the page would fail where it calls it)");
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
