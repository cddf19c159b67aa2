/**
 * @file The npm package as a user gets it: `npm pack` (which builds dist/ through the prepare script), then
 * `npm ci --offline` of the tarball into an empty project with nothing but its dependencies (no tsx).
 * There the CLI runs, plain ESM imports the root and each layer's subpath, the README's example runs as
 * written, a TypeScript file type-checks against the shipped .d.ts under node16, nodenext and bundler
 * resolution, and publint finds nothing to report in the tarball.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { spawn } from "node:child_process";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { publint } from "publint";
import { PAGE_FILES } from "../../src/web/bundle.js";
import { tempDir } from "../helpers/images.js";
import { npmCi, projectEnv, writeProject, type PackedTarball } from "./offline-project.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const MANIFEST = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as PackedTarball["manifest"] & {
  exports: Record<string, string | { types: string; default: string }>;
  peerDependencies?: Record<string, string>;
};
/** Subpaths of the exports map that name a layer ("./peft" -> "peft"), each also a namespace of the root. */
const LAYERS = Object.keys(MANIFEST.exports).filter((k) => k !== "." && k !== "./package.json").map((k) => k.slice(2));

interface PackResult { filename: string; integrity: string; size: number; files: { path: string }[] }

let tmp: ReturnType<typeof tempDir>;
let app: string;
let packed: PackResult;

interface Run { code: number; stdout: string; stderr: string }

/** Runs a command in the installed project; resolves with its exit code and output, never rejects. */
function runIn(cmd: string, args: readonly string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd: app, env: projectEnv(), maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      done({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
  });
}

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what} failed:\n${r.stdout}\n${r.stderr}`);

/** The first fenced code block in the README section headed `heading`. */
function readmeBlock(readme: string, heading: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith(`${heading}\n`));
  const block = section?.match(/^```(?:js|ts)\n([\s\S]*?)^```$/m);
  assert.ok(block, `README has no code block under "## ${heading}"`);
  return block[1]!;
}

before(() => {
  tmp = tempDir("snell-pack-");
  app = join(tmp.dir, "app");
  mkdirSync(app);
  // npm pack runs prepare (a clean tsc build of src/ into dist/), so the tarball is built from these sources.
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", app], { cwd: REPO, env: projectEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  packed = (JSON.parse(out) as PackResult[])[0]!;
  writeProject(app, REPO, { filename: packed.filename, integrity: packed.integrity, manifest: MANIFEST }, ["typescript", "@types/node"]);
  npmCi(app);
});
after(() => tmp?.remove());

describe("the packed package", () => {
  test("holds dist/ (a .js, .d.ts and .js.map per non-test source file), bin, the demo checkpoint, README, LICENSE", () => {
    const files = new Set(packed.files.map((f) => f.path));
    const extra = ["package.json", "README.md", "LICENSE", "bin/snell.js", "demo/pretrained-vit-mnist04.safetensors"];
    for (const f of extra) assert.ok(files.has(f), f);
    const sources = (readdirSync(join(REPO, "src"), { recursive: true }) as string[])
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts")).map((f) => f.replaceAll("\\", "/").slice(0, -3));
    // dist/package.json maps `#platform` and `#onnxruntime` for the compiled code (scripts/dist-package.mjs).
    // dist/web/static: the `snell web` page, bundled by `npm run build` (scripts/build-web.mjs).
    const page = PAGE_FILES.map((f) => `dist/web/static/${f}`);
    const expected = new Set([...extra, ...page, "dist/package.json", ...sources.flatMap((s) => [`dist/${s}.js`, `dist/${s}.d.ts`, `dist/${s}.js.map`])]);
    assert.deepEqual([...files].filter((f) => !expected.has(f)), [], "files nobody asked for");
    assert.deepEqual([...expected].filter((f) => !files.has(f)), [], "missing from the tarball");
  });

  test("publint reports nothing (errors, warnings or suggestions) on the tarball", async () => {
    const bytes = readFileSync(join(app, packed.filename));
    const tarball = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const { messages } = await publint({ pack: { tarball }, level: "suggestion", strict: true });
    // publint says Node ignores "imports" in a nested package.json; it does not: Node resolves `#x` from
    // the importing file's package scope, the nearest package.json (dist/package.json for compiled code;
    // without it dist/ fails to load); esbuild too (bundling the installed package for browsers picks
    // dist/platform/web.js, checked by hand 2026-12-04), and TypeScript (the type checks below).
    const nestedImports = (m: (typeof messages)[number]) =>
      m.code === "NESTED_PACKAGE_JSON_FIELD_IGNORED" && m.args.field === "imports" && m.args.filePath === "./dist/package.json";
    assert.deepEqual(messages.filter((m) => !nestedImports(m)), []);
  });

  test("compiled code imports only node builtins, declared dependencies and dist/package.json's #imports; source maps carry the sources", () => {
    const pkg = join(app, "node_modules", MANIFEST.name);
    // Optional peers are imported only when present (esbuild: `snell web` from a source tree builds its page).
    const deps = new Set([...Object.keys(MANIFEST.dependencies), ...Object.keys(MANIFEST.peerDependencies ?? {})]);
    const distImports = JSON.parse(readFileSync(join(pkg, "dist", "package.json"), "utf8")) as { imports: Record<string, unknown> };
    for (const k of Object.keys(distImports.imports)) deps.add(k);
    const spec = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire(?:\.resolve)?\(\s*)"([^"./][^"]*)"/g;
    for (const f of readdirSync(join(pkg, "dist"), { recursive: true }) as string[]) {
      // dist/web/static holds the page's self-contained browser bundle (minified; no imports to resolve).
      if (!f.endsWith(".js") || f.replaceAll("\\", "/").startsWith("web/static/")) continue;
      const code = readFileSync(join(pkg, "dist", f), "utf8").replace(/^\s*(\/\/|\*).*$/gm, "");
      for (const [, s] of code.matchAll(spec)) {
        const name = s!.startsWith("@") ? s!.split("/").slice(0, 2).join("/") : s!.split("/")[0]!;
        assert.ok(isBuiltin(s!) || deps.has(name), `dist/${f} imports "${s}", not in dependencies`);
      }
    }
    const map = JSON.parse(readFileSync(join(pkg, "dist", "index.js.map"), "utf8")) as { sourcesContent?: string[] };
    assert.match(map.sourcesContent?.[0] ?? "", /export \* as peft from/);
  });
});

describe("installed offline into an empty project", () => {
  test("npx snell --help lists the commands", async () => {
    const r = await runIn("npx", ["snell", "--help"]);
    ok(r, "npx snell --help");
    assert.match(r.stdout, /^Usage: snell/);
    for (const c of ["train", "eval", "demo"]) assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, "m"), c);
  });

  test("npx snell demo --epochs 1 --methods SNELL-8 adapts the shipped checkpoint well above chance", async () => {
    const r = await runIn("npx", ["snell", "demo", "--epochs", "1", "--methods", "SNELL-8"]);
    ok(r, "npx snell demo");
    const row = r.stdout.match(/^SNELL-8\s+(\d+\.\d+)%\s+(\d+\.\d+)%\s+37,253 /m);
    assert.ok(row, r.stdout);
    // Five classes: chance is 20%; one epoch of SNELL-8 on 1,000 digits lands far above it.
    assert.ok(Number(row[1]) > 40, `top-1 ${row[1]}%`);
    const png = readFileSync(join(app, "snell-demo", "training-curves.png"));
    assert.deepEqual([...png.subarray(1, 4)], [..."PNG"].map((c) => c.charCodeAt(0)));
  });

  test("a plain .mjs imports snell-ts and each layer subpath (same modules), builds a SNELL model; dist/ is not importable", async () => {
    writeFileSync(join(app, "check.mjs"), `
import * as root from "snell-ts";
import * as peft from "snell-ts/peft";
import { createRequire } from "node:module";
const layers = {};
for (const l of ${JSON.stringify(LAYERS)}) layers[l] = (await import("snell-ts/" + l)) === root[l];
const cfg = { ...root.models.vitVariant("vit_small_patch16_224").config, depth: 2, numClasses: 10 };
const model = peft.applyAdapters({ cfg, params: root.models.createVitParams(cfg, new root.random.Rng(0)) }, { method: "snell", rank: 8, sparsity: 0.9 });
const refused = async (s) => import(s).then(() => "imported", (e) => e.code);
console.log(JSON.stringify({
  resolved: import.meta.resolve("snell-ts"), counts: model.trainableCounts(), layers,
  version: createRequire(import.meta.url)("snell-ts/package.json").version,
  deep: await refused("snell-ts/dist/index.js"), tsx: await refused("tsx"),
}));
`);
    const r = await runIn("node", ["check.mjs"]);
    ok(r, "node check.mjs");
    const out = JSON.parse(r.stdout) as { resolved: string; counts: { trainable: number }; layers: Record<string, boolean>; version: string; deep: string; tsx: string };
    assert.equal(relative(app, fileURLToPath(out.resolved)), join("node_modules", "snell-ts", "dist", "index.js"));
    assert.deepEqual(out.layers, Object.fromEntries(LAYERS.map((l) => [l, true])));
    // The count test/public-api.test.ts derives from the shapes: per block q, k, v, proj (384 -> 384) and fc1/fc2
    // (384 <-> 1536) each with A [2, n_in, 4] and B [2, n_out, 4]; plus the head and the rest it lists.
    const perBlock = 4 * (8 * 384 + 8 * 384) + 2 * (8 * 384 + 8 * 1536);
    assert.equal(out.counts.trainable, 2 * perBlock + 384 * 10 + 10 + 384);
    assert.equal(out.version, MANIFEST.version);
    assert.equal(out.deep, "ERR_PACKAGE_PATH_NOT_EXPORTED");
    assert.equal(out.tsx, "ERR_MODULE_NOT_FOUND", "tsx must not be installed by the package");
  });

  test("npx snell web serves the prebuilt page (no esbuild installed) with cross-origin isolation, and stops on SIGTERM", async () => {
    assert.ok(!existsSync(join(app, "node_modules", "esbuild")), "esbuild must not be installed for this check");
    // The bin itself, not npx: SIGTERM to npx does not reach the server it starts, which then holds the pipe.
    const bin = join(app, "node_modules", MANIFEST.name, "bin", "snell.js");
    const child = spawn(process.execPath, [bin, "web", "--port", "0"], { cwd: app, env: projectEnv(), stdio: ["ignore", "pipe", "pipe"] });
    try {
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL in 60 s: ${out}`)), 60_000);
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /http:\/\/127\.0\.0\.1:\d+\/?/.exec(out);
          if (m) { clearTimeout(timer); resolve(m[0]); }
        });
        child.on("exit", (code) => reject(new Error(`snell web exited ${code}: ${out}`)));
      });
      for (const f of PAGE_FILES) {
        const r = await fetch(new URL(f, url));
        assert.equal(r.status, 200, f);
        assert.equal(r.headers.get("cross-origin-embedder-policy"), "require-corp", f);
        assert.ok((await r.arrayBuffer()).byteLength > 0, f);
      }
    } finally {
      const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
      child.kill("SIGTERM");
      await exited;
    }
  });

  test("the README's Install example runs unchanged from the installed package", async () => {
    const readme = readFileSync(join(app, "node_modules", "snell-ts", "README.md"), "utf8");
    assert.match(readme, /^npm install snell-ts$/m);
    writeFileSync(join(app, "readme-example.mjs"), readmeBlock(readme, "Install"));
    const r = await runIn("node", ["readme-example.mjs"]);
    ok(r, "the README example");
    assert.match(r.stdout, /^trainable params: [\d,]+ \|\| all params: [\d,]+ \|\| trainable%: \d+\.\d{4}$/m);
  });

  test("TypeScript using the public API type-checks against the shipped .d.ts (node16, nodenext, bundler)", async () => {
    const readme = readFileSync(join(app, "node_modules", "snell-ts", "README.md"), "utf8");
    writeFileSync(join(app, "readme-example.ts"), readmeBlock(readme, "Install"));
    copyFileSync(fileURLToPath(new URL("./api-usage.fixture.ts", import.meta.url)), join(app, "api-usage.ts"));
    for (const [module, moduleResolution] of [["node16", "node16"], ["nodenext", "nodenext"], ["esnext", "bundler"]] as const) {
      const compilerOptions = { module, moduleResolution, target: "ES2022", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] };
      writeFileSync(join(app, `tsconfig.${moduleResolution}.json`), JSON.stringify({ compilerOptions, files: ["api-usage.ts", "readme-example.ts"] }));
      const r = await runIn("node", [join("node_modules", "typescript", "bin", "tsc"), "-p", `tsconfig.${moduleResolution}.json`]);
      ok(r, `tsc under moduleResolution ${moduleResolution}`);
    }
    assert.ok(existsSync(join(app, "node_modules", "snell-ts", "dist", "peft", "index.d.ts")));
  });
});
