/** @file Config files (JSON or YAML) equivalent to the CLI flags, and the precedence rule: flags override file values. */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { ConfigError, FormatError, unknownName } from "../errors.js";

/** A parsed config: a plain object of JSON-like values. */
export type ConfigObject = { [key: string]: unknown };

function isPlainObject(v: unknown): v is ConfigObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** 1-based line and column of a character offset. */
export function lineColAt(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const line = before.split("\n").length;
  return { line, col: offset - before.lastIndexOf("\n") };
}

/**
 * Offset of the first JSON syntax error in `text` (a minimal recursive-descent scan), or -1 when valid.
 * Used only after JSON.parse failed, because V8's messages do not always give a position.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  class Stop { constructor(readonly at: number) {} }
  const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) i++; };
  const expect = (c: string) => { if (text[i] !== c) throw new Stop(i); i++; };
  const str = () => {
    expect('"');
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) throw new Stop(i);
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) throw new Stop(i); i += 4; }
        else if (!'"\\/bfnrt'.includes(text[i] ?? "")) throw new Stop(i);
      }
      i++;
    }
    expect('"');
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++; ws();
      if (text[i] === "}") { i++; return; }
      for (;;) { ws(); str(); ws(); expect(":"); value(); ws(); if (text[i] === ",") { i++; continue; } expect("}"); return; }
    }
    if (c === "[") {
      i++; ws();
      if (text[i] === "]") { i++; return; }
      for (;;) { value(); ws(); if (text[i] === ",") { i++; continue; } expect("]"); return; }
    }
    if (c === '"') return str();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) throw new Stop(i);
    i += m[0].length;
  };
  try {
    value(); ws();
    return i < text.length ? i : -1;
  } catch (e) {
    if (e instanceof Stop) return e.at;
    throw e;
  }
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    const msg = (cause as Error).message.split("\n")[0];
    const at = jsonErrorOffset(text);
    const where = lineColAt(text, at < 0 ? text.length : at);
    throw new FormatError(`${file}:${where.line}:${where.col}: invalid JSON (${msg})`, { cause });
  }
}

function parseYaml(file: string, text: string): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const lp = e.linePos?.[0] ?? lineColAt(text, e.pos[0]);
    throw new FormatError(`${file}:${lp.line}:${lp.col}: invalid YAML: ${e.message.split("\n")[0]}`, { cause: e });
  }
  let value: unknown;
  try {
    value = doc.toJS();
  } catch (cause) {
    throw new FormatError(`${file}: invalid YAML: ${(cause as Error).message.split("\n")[0]}`, { cause });
  }
  if (isCyclic(value)) throw new FormatError(`${file}: invalid YAML: an alias refers to its own anchor (a value that contains itself)`);
  return value;
}

/** True when `v` contains itself (YAML `a: &x [*x]`), which no option can hold and JSON cannot store. */
function isCyclic(v: unknown, open: Set<unknown> = new Set()): boolean {
  if (typeof v !== "object" || v === null) return false;
  if (open.has(v)) return true;
  open.add(v);
  const cyclic = Object.values(v).some((x) => isCyclic(x, open));
  open.delete(v);
  return cyclic;
}

/** kebab-case and snake_case keys to camelCase ("weight-decay", "weight_decay" → "weightDecay"), recursively. */
export function camelCaseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(camelCaseKeys);
  if (!isPlainObject(v)) return v;
  const out: ConfigObject = {};
  for (const [k, x] of Object.entries(v)) out[k.replace(/[-_]+([a-z0-9])/g, (_m, c: string) => c.toUpperCase())] = camelCaseKeys(x);
  return out;
}

/**
 * Loads a config file: `.json` as JSON, `.yaml`/`.yml` (or anything else) as YAML. Keys are normalised to
 * camelCase so a file may spell options as the flags do (`weight-decay: 0.01`). Parse errors are
 * FormatErrors naming `file:line:col`; a missing file or a top level that is not a mapping is a ConfigError.
 * With `allowedKeys`, an unknown top-level key is a ConfigError listing the valid ones.
 */
export function loadConfigFile(file: string, { allowedKeys }: { allowedKeys?: Iterable<string> } = {}): ConfigObject {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (cause) {
    throw new ConfigError(`config file ${file} cannot be read (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`, { cause });
  }
  const raw = path.extname(file).toLowerCase() === ".json" ? parseJson(file, text) : parseYaml(file, text);
  if (raw === null || raw === undefined) return {};
  if (!isPlainObject(raw)) {
    throw new ConfigError(`config file ${file} must hold a mapping of option names to values at the top level, got ${Array.isArray(raw) ? "a list" : typeof raw}`);
  }
  const cfg = camelCaseKeys(raw) as ConfigObject;
  if (allowedKeys) {
    const valid = new Set(allowedKeys);
    for (const k of Object.keys(cfg)) if (!valid.has(k)) throw unknownName(`option in ${file}`, k, [...valid].sort());
  }
  return cfg;
}

/**
 * Merges config layers, lowest precedence first: `mergeConfigs(defaults, recipe, file, flags)`.
 * Nested plain objects merge key by key; arrays and scalars replace; `undefined` means "not given" and never
 * overrides. So flags override file values, which override the recipe and the defaults.
 */
export function mergeConfigs(...layers: (ConfigObject | undefined)[]): ConfigObject {
  const out: ConfigObject = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeConfigs(out[k] as ConfigObject, v) : v;
    }
  }
  return out;
}

/** The part of commander's Command that explicitFlags needs. */
export interface FlagSource {
  opts(): Record<string, unknown>;
  getOptionValueSource(key: string): string | undefined;
}

/**
 * Only the options the user typed (or set through an env var), not commander's defaults, so a default
 * does not silently override a value from the config file.
 */
export function explicitFlags(cmd: FlagSource): ConfigObject {
  const out: ConfigObject = {};
  for (const [k, v] of Object.entries(cmd.opts())) {
    const src = cmd.getOptionValueSource(k);
    if (src === "cli" || src === "env") out[k] = v;
  }
  return out;
}
