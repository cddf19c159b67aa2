/**
 * @file The browser half of the library stays browser-safe: no file under the graph, runtime, model and
 * PEFT layers imports a Node module (the host's services come from `#platform`), and the browser entry
 * bundles for browsers with onnxruntime-web and src/platform/web.ts, never onnxruntime-node or node.ts.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** Folders whose every file must run in a browser. */
const BROWSER_SAFE = ["src/ir", "src/onnx", "src/autodiff", "src/runtime", "src/models", "src/peft"];
/** Node-only files inside those folders, never reached from the browser entry (the bundle test checks that). */
const NODE_ONLY = new Set(["src/runtime/device-check.ts"]);
/** Single files outside them that the browser entry needs. */
const ALSO = ["src/browser.ts", "src/errors.ts", "src/random.ts", "src/platform/web.ts", "src/platform/sha256.ts",
  "src/checkpoint/bytes.ts", "src/checkpoint/safetensors-bytes.ts", "src/checkpoint/checksum.ts", "src/checkpoint/tensor.ts",
  "src/train/browser.ts", "src/train/step-session.ts"];

/** Static imports, re-exports, dynamic imports and requires of a module specifier. */
const SPECIFIER = /(?:^|[;\s}])(?:import|export)\s[^;"']*?from\s*["']([^"']+)["']|\bimport\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']|\brequire\s*\(\s*["']([^"']+)["']/g;

export function nodeImports(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(SPECIFIER)) {
    const spec = m[1] ?? m[2] ?? m[3] ?? m[4]!;
    if (spec.startsWith("node:") || isBuiltin(spec) || spec === "onnxruntime-node") out.push(spec);
  }
  return out;
}

function sources(dir: string): string[] {
  return (readdirSync(path.join(REPO, dir), { recursive: true }) as string[])
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).map((f) => path.join(dir, f));
}

test("the import scan sees every import form (a check of the check)", () => {
  const code = `import * as fs from "node:fs";\nimport { x } from 'os';\nexport { y } from "./y.js";\nconst c = await import("node:crypto");\n` +
    `import "path";\nconst z = require("child_process");\nexport * from "worker_threads";\nimport type { T } from "./t.js";`;
  assert.deepEqual(nodeImports(code), ["node:fs", "os", "node:crypto", "path", "child_process", "worker_threads"]);
});

test("no file under ir, onnx, autodiff, runtime, models, peft (or the browser entry's other files) imports a Node module", () => {
  const files = [...BROWSER_SAFE.flatMap(sources).filter((f) => !NODE_ONLY.has(f)), ...ALSO];
  assert.ok(files.length > 100, `only ${files.length} files found`);
  const bad = files.flatMap((f) => nodeImports(readFileSync(path.join(REPO, f), "utf8")).map((s) => `${f} imports "${s}"`));
  assert.deepEqual(bad, [], "use `#platform` (src/platform/types.ts) for what the host provides");
});

test("src/browser.ts bundles for browsers: onnxruntime-web and platform/web.ts, no onnxruntime-node, node.ts or node: import", async () => {
  const esbuild = await import("esbuild");
  const r = await esbuild.build({
    entryPoints: [path.join(REPO, "src/browser.ts")], bundle: true, write: false, platform: "browser", format: "esm",
    metafile: true, logLevel: "silent", absWorkingDir: REPO,
  });
  const inputs = Object.keys(r.metafile.inputs);
  assert.ok(inputs.some((i) => i.includes("node_modules/onnxruntime-web/")), "onnxruntime-web is bundled");
  assert.ok(inputs.includes("src/platform/web.ts"), "the browser platform is bundled");
  assert.deepEqual(inputs.filter((i) => i.includes("onnxruntime-node") || i === "src/platform/node.ts" || NODE_ONLY.has(i) || /^src\/(data|cli|queue)\//.test(i)), []);
  const code = r.outputFiles[0]!.text;
  // onnxruntime-web's own Node paths call a guarded require("node:fs"), never an import statement.
  assert.deepEqual(code.match(/\bimport\b[^;"'()]*["']node:[^"']+["']|\bimport\s*\(\s*["']node:[^"']+["']\s*\)/g) ?? [], []);
});
