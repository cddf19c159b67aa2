/**
 * @file onnxruntime-web's wasm provider in plain Node runs our training step graphs as onnxruntime-node's
 * CPU provider does: five AdamW steps of a tiny ViT with SNELL-4 (s = 0.5) and LoRA-4, the same library
 * code, `#onnxruntime` switched to onnxruntime-web by `node --conditions=snell-onnxruntime-web` in a
 * child process. Both are float32 CPU kernels (MLAS vs wasm SIMD) that may sum in other orders: losses
 * must agree within 1e-5 relative (seen: 9e-8), every trained tensor entry within 2e-5 absolute (seen:
 * 5.4e-6 on one SNELL factor entry, 2.6e-7 with LoRA; AdamW moves an entry by up to lr = 3e-3 a step whatever its
 * gradient's size, so one whose gradient is near 0 magnifies the rounding; a wrong kernel is off by ~lr).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ORT_PACKAGE } from "../../src/runtime/ort.js";
import { tinyRun } from "./wasm-steps.js";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const METHODS = ["snell", "lora"];

interface ChildRun { losses: number[]; tensors: Record<string, number[]> }

async function webRuns(): Promise<Record<string, ChildRun>> {
  const { stdout } = await promisify(execFile)(process.execPath,
    ["--conditions=snell-onnxruntime-web", "--import", "tsx", "test/runtime/wasm-steps-child.ts", METHODS.join(",")],
    { cwd: REPO, maxBuffer: 64 << 20, timeout: 120_000 });
  const out = JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
  assert.equal(out.ort, "web", "the child ran onnxruntime-web");
  return out as unknown as Record<string, ChildRun>;
}

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b));

test("five SNELL-4 and LoRA-4 steps on onnxruntime-web (wasm, in Node) match onnxruntime-node CPU", { timeout: 180_000 }, async () => {
  assert.equal(ORT_PACKAGE, "node");
  const web = webRuns();
  for (const method of METHODS) {
    const ref = await tinyRun(method);
    const got = (await web)[method]!;
    assert.equal(got.losses.length, 5);
    got.losses.forEach((l, i) => assert.ok(relClose(l, ref.losses[i]!, 1e-5), `${method} step ${i}: loss ${l} on wasm, ${ref.losses[i]} on CPU`));
    assert.ok(ref.losses[4]! < ref.losses[0]!, `${method} trains (${ref.losses.join(", ")})`);
    assert.deepEqual(Object.keys(got.tensors).sort(), Object.keys(ref.tensors).sort());
    for (const [name, want] of Object.entries(ref.tensors)) {
      const worst = Math.max(...got.tensors[name]!.map((x, i) => Math.abs(x - want[i]!)));
      assert.ok(worst <= 2e-5, `${method} ${name}: max |wasm - cpu| ${worst.toExponential(2)}`);
    }
  }
});
