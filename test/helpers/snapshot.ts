/** @file A run folder's contents as data, to assert that a command left it byte-identical. */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { join, relative } from "node:path";

/** Every file under `dir` (hidden ones included) with a sha256 of its bytes; an empty map when dir is absent. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), createHash("sha256").update(fs.readFileSync(p)).digest("hex"));
    }
  };
  if (fs.existsSync(dir) && fs.statSync(dir).isDirectory()) walk(dir);
  return out;
}
