/**
 * @file The system chromium for page tests and screenshots, driven by playwright-core (no browser is
 * ever downloaded): where it is, how it is launched (WebGPU on SwiftShader), and the skip message when
 * it is missing.
 */
import { execFileSync } from "node:child_process";
import { chromium, type Browser } from "playwright-core";

/** The fix a skip message names. */
export const CHROMIUM_INSTALL = "scripts/install-webgpu-deps.sh (run as root: Debian's chromium and a software Vulkan)";

/** Path of the system chromium, or null. */
export function findChromium(): string | null {
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim() || null;
    } catch {
      // not on PATH
    }
  }
  return null;
}

/** `false` when chromium exists, else the node:test skip message. */
export function chromiumSkip(): false | string {
  return findChromium() ? false : `no chromium on PATH; install it with ${CHROMIUM_INSTALL}`;
}

/**
 * Headless chromium with WebGPU enabled: Dawn on SwiftShader's Vulkan (chromium's own software GPU;
 * no other adapter appeared here with --use-vulkan=native or WebGPUService). --no-sandbox: CI runs as root.
 */
export function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error(`no chromium on PATH; install it with ${CHROMIUM_INSTALL}`);
  return chromium.launch({
    executablePath,
    args: ["--enable-unsafe-webgpu", "--use-angle=swiftshader", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan", "--no-sandbox"],
  });
}
