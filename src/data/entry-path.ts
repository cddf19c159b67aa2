/**
 * @file The one rule for image paths in list files: relative to the data folder and inside it. `../x.png`
 * and absolute paths are refused (naming the file and line) unless the user allows paths outside the
 * folder, so a list cannot read arbitrary files by accident and moving the folder moves the dataset.
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import { FormatError } from "../errors.js";

/**
 * Resolves a list entry against `root`. Inside-only by default; with `allowOutside`, absolute paths are
 * taken as they are and `..` may leave the folder.
 */
export function resolveEntry(root: string, entry: string, origin: string, allowOutside = false): string {
  if (allowOutside) return isAbsolute(entry) ? entry : resolve(root, entry);
  const abs = isAbsolute(entry) ? null : join(root, entry);
  const rel = abs === null ? null : relative(root, abs);
  if (abs === null || rel === null || rel === ".." || rel.startsWith(".." + "/") || rel.startsWith("..\\") || isAbsolute(rel)) {
    throw new FormatError(`${origin}: image path "${entry}" is outside the data folder ${root}; list paths relative to it, or pass --allow-outside-paths`);
  }
  return abs;
}
