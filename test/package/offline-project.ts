/**
 * @file A throw-away npm project that installs the packed tarball offline: its package-lock.json is cut
 * from the repository's own lockfile (same versions and integrity hashes), so `npm ci --offline` takes
 * every dependency from the local npm cache that the repository's `npm ci` filled, and nothing else.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  [field: string]: unknown;
}
type Packages = Record<string, LockEntry>;

/** The folder whose node_modules holds `location` (the parent package's path, "" for the root). */
function parentOf(location: string): string {
  return location.slice(0, location.lastIndexOf("node_modules/")).replace(/\/$/, "");
}

/** Node's lookup as the lockfile records it: `name` seen from `from`, walking up the nested node_modules. */
function resolveIn(packages: Packages, from: string, name: string): string | undefined {
  for (let base = from; ; base = parentOf(base)) {
    const key = `${base ? `${base}/` : ""}node_modules/${name}`;
    if (packages[key]) return key;
    if (base === "") return undefined;
  }
}

/** The lock entries `names` need (as the repository root resolves them) with everything they depend on. */
export function lockClosure(packages: Packages, names: readonly string[]): Packages {
  const out: Packages = {};
  const visit = (from: string, name: string, required: boolean): void => {
    const key = resolveIn(packages, from, name);
    if (!key) {
      if (required) throw new Error(`${name} (needed by ${from || "the root"}) is not in package-lock.json`);
      return;
    }
    if (out[key]) return;
    const { dev: _dev, devOptional: _devOptional, ...entry } = packages[key]!;
    out[key] = entry;
    for (const d of Object.keys(entry.dependencies ?? {})) visit(key, d, true);
    for (const d of Object.keys(entry.optionalDependencies ?? {})) visit(key, d, false);
    for (const d of Object.keys(entry.peerDependencies ?? {})) visit(key, d, false);
  };
  for (const n of names) visit("", n, true);
  return out;
}

export interface PackedTarball {
  /** File name inside the project folder. */
  filename: string;
  integrity: string;
  manifest: { name: string; version: string; dependencies: Record<string, string>; [field: string]: unknown };
}

/**
 * Writes package.json and package-lock.json into `dir` (which holds the tarball): the app depends on the
 * tarball and, for type checks, on the repository's typescript and @types/node. No other package (tsx in
 * particular) is installed, so a run-time need for a devDependency fails here.
 */
export function writeProject(dir: string, repo: string, tgz: PackedTarball, devTools: readonly string[]): void {
  const repoLock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")) as { packages: Packages };
  const repoRoot = repoLock.packages[""]!;
  const devDependencies = Object.fromEntries(devTools.map((n) => [n, (repoRoot as { devDependencies: Record<string, string> }).devDependencies[n]!]));
  const spec = `file:${tgz.filename}`;
  const app = { name: "snell-ts-install-check", version: "1.0.0", private: true, type: "module", dependencies: { [tgz.manifest.name]: spec }, devDependencies };
  const { name, version, dependencies, bin, engines, license } = tgz.manifest;
  const packages: Packages = {
    "": { name: app.name, version: app.version, dependencies: app.dependencies, devDependencies },
    [`node_modules/${name}`]: { version, resolved: spec, integrity: tgz.integrity, license, dependencies, bin, engines },
    ...lockClosure(repoLock.packages, [...Object.keys(dependencies), ...devTools]),
  };
  writeFileSync(join(dir, "package.json"), JSON.stringify(app, null, 2));
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify({ name: app.name, version: app.version, lockfileVersion: 3, requires: true, packages }, null, 2));
}

/**
 * The environment for npm and node in the project: none of the npm_* variables of the `npm test` that runs
 * us (npm_config_local_prefix would point npm back at the repository), offline, no CUDA download by
 * onnxruntime-node (the documented ONNXRUNTIME_NODE_INSTALL=skip).
 */
export function projectEnv(): NodeJS.ProcessEnv {
  const keep = Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== "NODE_OPTIONS" && k !== "NODE_PATH");
  const cache = process.env.npm_config_cache;
  return { ...Object.fromEntries(keep), ...(cache ? { npm_config_cache: cache } : {}), npm_config_offline: "true",
    npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false", ONNXRUNTIME_NODE_INSTALL: "skip" };
}

/** `npm ci` in the project; throws with npm's output (and the likely cause of a cache miss) when it fails. */
export function npmCi(dir: string): void {
  try {
    execFileSync("npm", ["ci"], { cwd: dir, env: projectEnv(), stdio: "pipe", encoding: "utf8" });
  } catch (e) {
    const { stdout = "", stderr = "" } = e as { stdout?: string; stderr?: string };
    const hint = /ENOTCACHED/.test(stderr) ? "\na dependency is not in the npm cache: run `npm ci` in the repository first" : "";
    throw new Error(`offline npm ci of the packed tarball failed:\n${stdout}${stderr}${hint}`);
  }
}
