/**
 * @file Whether onnxruntime-node's WebGPU provider starts here, as a node:test `skip` value: false when
 * it does, else the reason and the command that installs a software Vulkan it accepts.
 */
import { ConfigError } from "../../src/errors.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";

/** The fix the skip message names. */
export const WEBGPU_INSTALL = "scripts/install-webgpu-deps.sh (run as root: a software Vulkan, Mesa >= 25 lavapipe)";

let cached: Promise<false | string> | undefined;

async function probe(): Promise<void> {
  const g = new GraphBuilder("webgpu_probe");
  g.output(g.Identity(g.input("x", [1])), "y");
  await (await CompiledGraph.compile(g, { device: "webgpu", intraOpThreads: 1 })).release();
}

/**
 * `false` when a WebGPU session starts; otherwise the skip message.
 *
 * @example
 * describe("on WebGPU", { skip: await webgpuSkip() }, () => { ... });
 */
export function webgpuSkip(): Promise<false | string> {
  cached ??= probe().then(
    () => false as const,
    (e: Error) => {
      if (!(e instanceof ConfigError)) throw e;
      return `no WebGPU adapter (${e.message.slice(0, 120)}...); install one with ${WEBGPU_INSTALL}`;
    },
  );
  return cached;
}
