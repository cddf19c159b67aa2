/**
 * @file The two screenshots of the `snell web` page in the README: mid-training and finished
 * (docs/web/training.png, docs/web/finished.png). SNELL-8 on the bundled digits, 3 epochs on wasm
 * in headless chromium (WebGPU on SwiftShader takes ~15 s a step). Usage:
 *   node --import tsx scripts/web-screenshots.ts [--backend wasm|webgpu] [--epochs 3]
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startWebServer } from "../src/web/server.js";
import { launchChromium } from "../test/helpers/chromium.js";

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../docs/web");
const { values } = parseArgs({ options: { backend: { type: "string", default: "wasm" }, epochs: { type: "string", default: "3" } } });

const server = await startWebServer({ port: 0 });
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  await page.goto(`${server.url}?backend=${values.backend}&autostart=1&method=SNELL-8&epochs=${values.epochs}&batch=32&seed=0`);
  type St = { phase: string; losses: number[]; evals: unknown[]; error: string | null; top1: number | null };
  const state = () => page.evaluate(() => (window as unknown as { snellWeb: St }).snellWeb);
  // Mid-training: after the first evaluation, well into the second epoch.
  await page.waitForFunction(() => {
    const w = (window as unknown as { snellWeb: St }).snellWeb;
    return w.phase === "done" || w.phase === "error" || (w.evals.length >= 1 && w.losses.length >= 45);
  }, null, { timeout: 600_000, polling: 200 });
  // Pause between two steps: a screenshot taken while wasm holds the main thread shows a stale frame.
  await page.click("#pause");
  await page.waitForFunction(() => (window as unknown as { snellWeb: { paused: boolean } }).snellWeb.paused, null, { timeout: 60_000 });
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, "training.png"), fullPage: true });
  await page.click("#pause");
  await page.waitForFunction(() => ["done", "error"].includes((window as unknown as { snellWeb: St }).snellWeb.phase), null, { timeout: 900_000, polling: 500 });
  const st = await state();
  if (st.error) throw new Error(`the page failed: ${st.error}`);
  await page.screenshot({ path: path.join(OUT, "finished.png"), fullPage: true });
  console.log(`wrote ${OUT}/training.png and finished.png: ${st.losses.length} steps, test top-1 ${st.top1}% (${await page.textContent("#status")})`);
} finally {
  await browser.close();
  await server.close();
}
