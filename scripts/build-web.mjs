// Bundles the `snell web` page (src/web/page + the library, for browsers) into dist/web/static with
// esbuild; run by `npm run build` after tsc, so `npm ci` and `npm pack` ship the built page.
import { fileURLToPath } from "node:url";

const { buildPage } = await import(new URL("../dist/web/bundle.js", import.meta.url).href);
const out = fileURLToPath(new URL("../dist/web/static", import.meta.url));
const t0 = performance.now();
await buildPage(out);
// stderr: `npm pack --json` runs this through prepare, and its stdout must stay JSON.
console.error(`web page bundled into ${out} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
