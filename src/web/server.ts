/**
 * @file The `snell web` server (node:http): the page, its bundle, onnxruntime-web's wasm files, the
 * shipped demo backbone and the bundled digits. Loopback only unless asked; every response carries the
 * cross-origin isolation headers multi-threaded wasm needs (SharedArrayBuffer).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileAtomic } from "../checkpoint/atomic.js";
import { replaceDirAtomic } from "../checkpoint/atomic-dir.js";
import { ConfigError } from "../errors.js";
import { resolveVariant } from "../models/registry.js";
import { buildPage, PAGE_FILES } from "./bundle.js";
import { bundledDigits } from "./digits.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PACKAGE_ROOT = path.resolve(HERE, "../..");

/** Sent on every response: cross-origin isolation (COOP + COEP) for threaded wasm, and no caching. */
export const WEB_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Content-Type-Options": "nosniff",
  "Cache-Control": "no-store",
} as const;

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm", ".bin": "application/octet-stream", ".safetensors": "application/octet-stream",
};

/** onnxruntime-web's runtime files the page may load (wasm binaries and their .mjs loaders). */
const ORT_FILE = /^ort-wasm-simd-threaded(\.[a-z]+)?\.(wasm|mjs)$/;

export interface WebServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1; anything but loopback needs `allowRemote`. */
  host?: string;
  /** Allow a non-loopback host (the page and the backbone are then reachable from the network). */
  allowRemote?: boolean;
  /** A built page folder (index.html + app.js); default: dist/web/static, or built on demand. */
  pageDir?: string;
}

export interface WebServer {
  url: string;
  host: string;
  port: number;
  pageDir: string;
  close(): Promise<void>;
}

/** Newest modification time under `dir` (the page bundle is rebuilt when any source is newer). */
function newestMtime(dir: string): number {
  let t = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) t = Math.max(t, fs.statSync(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).mtimeMs);
  }
  return t;
}

/**
 * The folder holding the built page: dist/web/static when running from dist/ (`npm run build` made it);
 * from the source tree (tsx), a cache folder rebuilt whenever a source under src/ is newer.
 */
export async function pageDir(): Promise<string> {
  const fromDist = path.basename(path.dirname(HERE)) === "dist";
  const dist = path.join(PACKAGE_ROOT, "dist", "web", "static");
  if (fromDist && PAGE_FILES.every((f) => fs.existsSync(path.join(dist, f)))) return dist;
  const cache = path.join(os.tmpdir(), `snell-web-page-${os.userInfo().uid}`);
  const app = path.join(cache, "app.js");
  const src = path.join(PACKAGE_ROOT, "src");
  if (fs.existsSync(app) && (!fs.existsSync(src) || fs.statSync(app).mtimeMs >= newestMtime(src))) return cache;
  // Built in a private folder, then swapped in whole by the one atomic folder writer, so a second
  // server never serves a half-written bundle.
  const built = fs.mkdtempSync(path.join(os.tmpdir(), "snell-web-build-"));
  try {
    await buildPage(built);
    replaceDirAtomic(cache, (tmp) => {
      for (const f of fs.readdirSync(built)) writeFileAtomic(path.join(tmp, f), fs.readFileSync(path.join(built, f)));
    });
  } finally {
    fs.rmSync(built, { recursive: true, force: true });
  }
  return cache;
}

/** The directory of onnxruntime-web's dist files, through the package's own exports. */
function ortDir(): string {
  return path.dirname(createRequire(import.meta.url).resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"));
}

/** The shipped demo backbone, from the variant's recorded file. */
function backboneFile(): string {
  return path.join(PACKAGE_ROOT, resolveVariant("demo-vit-mnist04").pretrained!.file!);
}

function checkHost(host: string, allowRemote: boolean): void {
  if (!LOOPBACK.has(host) && !allowRemote) {
    throw new ConfigError(`--host ${host} would serve the page to other machines; use 127.0.0.1 (default), or pass --allow-remote to mean it`);
  }
}

/** Maps a request path to a file (or the digits blob); null for 404. */
function route(url: string, page: string, ort: string): { file: string } | { digits: true } | null {
  const p = decodeURIComponent(new URL(url, "http://x").pathname);
  if (p === "/" || p === "/index.html") return { file: path.join(page, "index.html") };
  if (p === "/app.js") return { file: path.join(page, "app.js") };
  if (p === "/demo/backbone.safetensors") return { file: backboneFile() };
  if (p === "/data/digits.bin") return { digits: true };
  const m = /^\/ort\/([^/]+)$/.exec(p);
  if (m && ORT_FILE.test(m[1]!)) return { file: path.join(ort, m[1]!) };
  return null;
}

/**
 * Starts the server; resolves once it listens.
 *
 * @example
 * const s = await startWebServer({ port: 0 });
 * console.log(`open ${s.url}`);
 * await s.close();
 */
export async function startWebServer({ port = 0, host = "127.0.0.1", allowRemote = false, pageDir: dir }: WebServerOptions = {}): Promise<WebServer> {
  checkHost(host, allowRemote);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port must be an integer in [0, 65535], got ${port}`);
  const page = dir ?? (await pageDir());
  const ort = ortDir();
  let digits: Uint8Array | null = null;
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string | Uint8Array, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { ...WEB_HEADERS, "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "method not allowed\n");
    let r;
    try {
      r = route(req.url ?? "/", page, ort);
    } catch {
      return send(400, "bad request\n");
    }
    if (!r) return send(404, "not found\n");
    if ("digits" in r) return send(200, (digits ??= bundledDigits()), TYPES[".bin"]);
    fs.stat(r.file, (err, st) => {
      if (err || !st.isFile()) return send(404, "not found\n");
      res.writeHead(200, { ...WEB_HEADERS, "Content-Type": TYPES[path.extname(r.file)] ?? "application/octet-stream", "Content-Length": st.size });
      if (req.method === "HEAD") return res.end();
      fs.createReadStream(r.file).on("error", () => res.destroy()).pipe(res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) => reject(e.code === "EADDRINUSE" ? new ConfigError(`--port ${port}: address ${host}:${port} is in use; pick another or 0 for a free one`) : e));
    server.listen(port, host, resolve);
  });
  const addr = server.address() as { port: number };
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${addr.port}/`, host, port: addr.port, pageDir: page,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
