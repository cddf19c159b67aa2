/**
 * @file TrainSession on webgpu: the trainable state stays in GPU memory between steps and matches a
 * CPU session's (losses and read-back state within 1e-4 over 5 AdamW steps); export/import,
 * snapshots and the eval graph work on the device state. Skips without a WebGPU adapter.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { releaseReadBackSessions } from "../../src/runtime/read-back.js";
import { heldDeviceTensors } from "../../src/runtime/tensor-refs.js";
import type { Device } from "../../src/runtime/device.js";
import { TrainSession } from "../../src/train/step-session.js";
import { webgpuSkip } from "../helpers/webgpu.js";
import { mlpData, mlpParams, mlpSpec } from "./fixture-models.js";

const LRS = [0.02, 0.02, 0.01, 0.01, 0.005];
const spec = () => mlpSpec(mlpParams());
const data = mlpData;

const create = (device: Device, s = spec()) => TrainSession.create(s, { device, intraOpThreads: 1 });

async function steps(s: TrainSession, lrs: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (const lr of lrs) out.push((await s.step(data(), lr)).loss);
  return out;
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    assert.ok(d <= tol * Math.max(1, Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]} (diff ${d})`);
  }
}

const bytes = (t: Record<string, Float32Array>) => Object.fromEntries(Object.entries(t).map(([n, a]) => [n, Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex")]));

describe("TrainSession on webgpu", { skip: await webgpuSkip() }, () => {
  after(releaseReadBackSessions);

  test("five AdamW steps keep the state on the GPU and match the CPU session within 1e-4", async () => {
    const held0 = heldDeviceTensors();
    const gpuSpec = spec();
    const cpu = await create("cpu"), gpu = await create("webgpu", gpuSpec);
    const lc = await steps(cpu, LRS), lg = await steps(gpu, LRS);
    assertClose(lg, lc, 1e-4, "loss");
    const snap = gpu.snapshot();
    const locations = new Set([...snap.tensors.values()].map((t) => t.location));
    snap.release();
    assert.deepEqual([...locations], ["gpu-buffer"], "state between steps is not (all) in GPU memory");
    const sc = await cpu.exportState(), sg = await gpu.exportState();
    assert.equal(sg.step, 5);
    assert.deepEqual(Object.keys(sg.tensors).sort(), Object.keys(sc.tensors).sort());
    for (const n of Object.keys(sc.tensors)) assertClose(sg.tensors[n]!, sc.tensors[n]!, 1e-4, n);
    // The eval graph reads the device state too.
    assertClose((await gpu.evaluate(data(9))).logits, (await cpu.evaluate(data(9))).logits, 1e-4, "eval logits");
    await gpu.syncParams();
    assertClose(gpuSpec.params.get("fc1.weight").data, sc.tensors["fc1.weight"]!, 1e-4, "synced fc1.weight");
    await cpu.release();
    await gpu.release();
    assert.equal(heldDeviceTensors(), held0, "device tensors left after release");
  });

  test("export, import and two more steps give the same bytes as the uninterrupted run", async () => {
    const a = await create("webgpu");
    await steps(a, LRS.slice(0, 3));
    const saved = await a.exportState();
    const copy = Object.fromEntries(Object.entries(saved.tensors).map(([n, v]) => [n, v.slice()]));
    const tail = await steps(a, LRS.slice(3));
    const end = bytes((await a.exportState()).tensors);
    await a.release();
    const b = await create("webgpu");
    b.importState({ step: 3, tensors: copy });
    assert.deepEqual(await steps(b, LRS.slice(3)), tail);
    assert.deepEqual(bytes((await b.exportState()).tensors), end);
    await b.release();
    // A GPU checkpoint resumes on the CPU too (within float tolerance, not bit for bit: other kernels).
    const c = await create("cpu");
    c.importState({ step: 3, tensors: copy });
    assertClose(await steps(c, LRS.slice(3)), tail, 1e-4, "CPU resume loss");
    await c.release();
  });

  test("a snapshot restores the device state exactly, in the same session and in another one", async () => {
    const a = await create("webgpu"), b = await create("webgpu");
    await steps(a, LRS.slice(0, 2));
    const snap = a.snapshot();
    const ahead = await steps(a, LRS.slice(2));
    a.restore(snap);
    b.restore(snap);
    snap.release();
    assert.deepEqual(await steps(a, LRS.slice(2)), ahead);
    assert.deepEqual(await steps(b, LRS.slice(2)), ahead);
    assert.equal(b.steps, 5);
    await a.release();
    await b.release();
  });
});
