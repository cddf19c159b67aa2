// Writes dist/package.json: Node, TypeScript and bundlers resolve `#platform` and `#onnxruntime` through
// the nearest package.json, whose "imports" point into src/ (run through tsx) at the repository root;
// compiled code needs the same map pointing into dist/. Run by `npm run build` after tsc.
import { readFileSync, writeFileSync } from "node:fs";

const root = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const toDist = (target) => (typeof target === "string" ? target.replace(/^\.\/src\//, "./")
  : Object.fromEntries(Object.entries(target).map(([k, v]) => [k, toDist(v)])));
const imports = Object.fromEntries(Object.entries(root.imports).map(([k, v]) => [k, toDist(v)]));
writeFileSync(new URL("../dist/package.json", import.meta.url), JSON.stringify({ type: "module", imports }, null, 2) + "\n");
