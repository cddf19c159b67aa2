/**
 * @file Builds the `snell web` page: esbuild bundles src/web/page/main.ts (the library's own training
 * code with it) for browsers, next to index.html. `npm run build` writes it to dist/web/static; from a
 * source checkout without that folder, `snell web` builds it on demand into a cache folder.
 * Bundled for browsers, package.json's `#onnxruntime` and `#platform` resolve to onnxruntime-web and
 * src/platform/web.ts (the runtime seam).
 */
import { builtinModules } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "esbuild";
import { ConfigError } from "../errors.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Where the page's sources live: src/web/page from the source tree (dist has no .ts sources). */
export const PAGE_SOURCES = path.resolve(HERE, "../../src/web/page");

/** The files a built page folder holds. */
export const PAGE_FILES = ["index.html", "app.js"] as const;

const BUILTIN = new Set(builtinModules.filter((m) => !m.startsWith("_")));

/**
 * esbuild plugin: Node built-ins and sharp -> empty modules. The library's runtime and platform come
 * from package.json's `#onnxruntime` / `#platform` browser conditions; what is left reaches the page
 * only through modules it imports for one function (train/tensor-loader.ts imports data/loader.ts,
 * whose image decoding the page never calls).
 */
function emptyNodeModules(): Plugin {
  return {
    name: "snell-empty-node-modules",
    setup(build) {
      build.onResolve({ filter: /^(node:|sharp$|[a-z_]+$|[a-z_]+\/)/ }, (a) => {
        const bare = a.path.replace(/^node:/, "");
        const root = bare.split("/")[0]!;
        if (!a.path.startsWith("node:") && !BUILTIN.has(root) && root !== "sharp") return undefined;
        return { path: bare, namespace: "snell-empty" };
      });
      build.onLoad({ filter: /.*/, namespace: "snell-empty" }, () => ({ contents: "module.exports = {};", loader: "js" }));
    },
  };
}

/** What a page build bundled. */
export interface PageBuild {
  /** Bundled files (relative to the package root; empty modules as "snell-empty:<name>"). */
  inputs: string[];
  /** Each Node module replaced by an empty one, with the files that import it. */
  emptied: Record<string, string[]>;
}

/** The package's version, baked into the page (adapter_config.json's library_version). */
function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.resolve(HERE, "../../package.json"), "utf8")) as { version: string }).version;
}

/**
 * Bundles the page into `outDir` (index.html + app.js). Needs esbuild (a dev dependency) and the page
 * sources.
 *
 * @example
 * await buildPage("dist/web/static");
 */
export async function buildPage(outDir: string, { minify = true }: { minify?: boolean } = {}): Promise<PageBuild> {
  if (!fs.existsSync(path.join(PAGE_SOURCES, "main.ts"))) {
    throw new ConfigError(`the web page is not built (no dist/web/static) and its sources (${PAGE_SOURCES}) are missing; run \`npm run build\` in a snell-ts checkout`);
  }
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (cause) {
    throw new ConfigError("the web page is not built (no dist/web/static) and esbuild, which builds it, is not installed; run `npm run build` in a snell-ts checkout", { cause });
  }
  fs.mkdirSync(outDir, { recursive: true });
  const r = await esbuild.build({
    entryPoints: [path.join(PAGE_SOURCES, "main.ts")],
    outfile: path.join(outDir, "app.js"),
    bundle: true, format: "esm", platform: "browser", target: "es2022", minify, sourcemap: false, logLevel: "silent",
    define: { SNELL_VERSION: JSON.stringify(packageVersion()) },
    metafile: true,
    plugins: [emptyNodeModules()],
  });
  fs.copyFileSync(path.join(PAGE_SOURCES, "index.html"), path.join(outDir, "index.html"));
  const emptied: Record<string, string[]> = {};
  for (const [file, { imports }] of Object.entries(r.metafile.inputs)) {
    for (const i of imports) if (i.path.startsWith("snell-empty:")) (emptied[i.path.slice("snell-empty:".length)] ??= []).push(file);
  }
  return { inputs: Object.keys(r.metafile.inputs), emptied };
}
