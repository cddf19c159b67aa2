/** @file Paths checked before the work that reads or writes them, so a typo costs nothing and errors name the path. */
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError } from "../errors.js";

/** Throws ConfigError unless `file` can be created: its folder exists and is a folder, and it is not itself a folder. */
export function checkWritableFile(file: string, flag: string): void {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new ConfigError(`${flag} ${file}: folder ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new ConfigError(`${flag} ${file}: ${dir} is not a folder`);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new ConfigError(`${flag} ${file} is a folder; name a file`);
}

/**
 * True when `file` exists as a file, false when absent; a folder in its place is a ConfigError naming
 * it (reading a folder fails deep inside with EISDIR and no path).
 */
export function isExistingFile(file: string, what: string): boolean {
  if (!fs.existsSync(file)) return false;
  if (fs.statSync(file).isDirectory()) throw new ConfigError(`${what} ${file} is a folder, but a file is needed here`);
  return true;
}
