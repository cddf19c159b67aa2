/** @file What every command module receives and shares: output streams, option parsers, config layering, run.json. */
import * as fs from "node:fs";
import * as path from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { ConfigError, FormatError } from "../../errors.js";
import { explicitFlags, loadConfigFile, mergeConfigs, type ConfigObject } from "../config-file.js";
import { capWorkers, checkOptions, checkPathOptions } from "../option-rules.js";

/** Streams a command writes to (tests pass their own) and the signal Ctrl-C aborts. */
export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** The command's exit status (EXIT); commands set it, main returns it. */
  exitCode: number;
  /** Installs SIGINT and SIGTERM handlers for the duration of `body`; the first signal aborts `signal` with its name as the reason. */
  withInterrupt<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

/** A command module: main.ts imports each from its list and calls `register`. */
export interface CommandModule {
  register(program: Command, ctx: CliContext): void;
}

/** Exit codes: 0 ok, 1 runtime failure or bug, 2 bad input (config, files, usage), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

/** The exit code of a run stopped by `signal` (128 + its number, as shells report): SIGTERM 143, else 130. */
export function interruptExit(signal: AbortSignal | NodeJS.Signals): number {
  const sig = typeof signal === "string" ? signal : signal.reason;
  return sig === "SIGTERM" ? EXIT.terminated : EXIT.interrupted;
}

export const parseInteger = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}"`);
  return n;
};

export const parseNumber = (name: string) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
  return n;
};

export const parseList = (v: string): string[] => v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);

/** "depth=2,embedDim=32" -> { depth: 2, embedDim: 32 } (numbers and true/false parsed). */
export function parseKeyValues(v: string): Record<string, number | boolean | string> {
  const out: Record<string, number | boolean | string> = {};
  for (const part of parseList(v)) {
    const m = /^([A-Za-z_][\w-]*)=(.*)$/.exec(part);
    if (!m) throw new InvalidArgumentError(`expected key=value pairs separated by commas, got "${part}"`);
    const raw = m[2]!.trim();
    const key = m[1]!.replace(/[-_]+([a-z0-9])/g, (_x, c: string) => c.toUpperCase());
    out[key] = raw === "true" ? true : raw === "false" ? false : raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return out;
}

/** A JSON object from a flag ("--peft '{\"rank\": 4}'"). */
export function parseJsonObject(name: string) {
  return (v: string): Record<string, unknown> => {
    let o: unknown;
    try {
      o = JSON.parse(v);
    } catch (e) {
      throw new InvalidArgumentError(`${name} must be a JSON object (${(e as Error).message})`);
    }
    if (typeof o !== "object" || o === null || Array.isArray(o)) throw new InvalidArgumentError(`${name} must be a JSON object, got ${v}`);
    return o as Record<string, unknown>;
  };
}

/** Option names a command accepts in a config file: its long options as camelCase attributes. */
export function optionKeys(cmd: Command): string[] {
  return cmd.options.map((o) => o.attributeName()).filter((k) => k !== "config" && k !== "help");
}

/**
 * Layers a command's config: `base` layers (defaults, recipe, a stored run.json) under the `--config`
 * file under the flags the user typed. Returns the merged object and the keys the user set explicitly.
 */
export function layeredConfig(cmd: Command, ...base: (ConfigObject | undefined)[]): ConfigObject {
  const flags = explicitFlags(cmd);
  const fileName = cmd.opts().config;
  const file = typeof fileName === "string" ? loadConfigFile(fileName, { allowedKeys: optionKeys(cmd) }) : undefined;
  if (file) {
    checkOptions(file, String(fileName));
    checkPathOptions(file);
    // As for the flag (pre-action.ts warns there); here no stream is at hand, so the cap is silent.
    if (typeof file.workers === "number") file.workers = capWorkers(file.workers).workers;
  }
  return mergeConfigs(...base, file, flags);
}

/** The run description `snell train` writes next to its checkpoints; eval/predict/merge/export read it. */
export const RUN_JSON = "run.json";

/** Reads `<dir>/run.json`, or null when absent. */
export function readRunJson(dir: string): ConfigObject | null {
  const file = path.join(dir, RUN_JSON);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as ConfigObject;
  } catch (cause) {
    throw new FormatError(`${file}: not valid JSON (${(cause as Error).message})`, { cause });
  }
}

/** Finds the run folder of an adapter folder (its parent holds run.json) or a run folder itself. */
export function runDirOf(opts: { out?: string; adapter?: string }): { runDir: string | null; adapterDir: string } {
  if (opts.adapter) {
    const parent = path.dirname(path.resolve(opts.adapter));
    return { runDir: opts.out ?? (fs.existsSync(path.join(parent, RUN_JSON)) ? parent : null), adapterDir: opts.adapter };
  }
  if (!opts.out) throw new ConfigError("name the trained run with --out DIR (the folder `snell train --out` wrote) or the adapter with --adapter DIR");
  return { runDir: opts.out, adapterDir: path.join(opts.out, "adapter") };
}

/** Writes a line to a stream. */
export function println(stream: NodeJS.WritableStream, line = ""): void {
  stream.write(line + "\n");
}
