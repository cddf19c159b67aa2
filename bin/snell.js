#!/usr/bin/env node
// The CLI runs the compiled JavaScript in dist/ (built by `npm run build`, and by npm itself on
// `npm ci`, `npm pack` and git installs through the prepare script); tsx is for development only.
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("snell: error: dist/ is missing; run `npm run build` in the snell-ts checkout\n");
  process.exit(1);
}
const { main: run } = await import(main.href);
await run();
