/**
 * @file Checks up front that a device's execution provider starts, so a command fails with the one
 * ConfigError of device.ts (naming the fix) before it reads data or writes a run folder, not minutes
 * later when the first graph compiles. Node only. The probe runs in a child process: a provider that
 * cannot start makes native code write to the process's stderr (ORT's "[E:onnxruntime ...
 * provider_bridge_ort.cc" line for CUDA, the Vulkan loader's warnings for WebGPU), which must not reach
 * the user beside our one line, and a broken driver could take the process down.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { RuntimeError } from "../errors.js";
import { GraphBuilder } from "../ir/builder.js";
import { writeModel } from "../onnx/writer.js";
import { executionProviders, parseDevice, providerError, type Device } from "./device.js";

const checked = new Map<Device, Promise<void>>();

// Creates one session with the given providers; prints "ok" or {"error": message} on stdout.
const CHILD = `const ort = require(process.argv[1]);
ort.InferenceSession.create(Buffer.from(process.argv[3], "base64"), { executionProviders: JSON.parse(process.argv[2]), intraOpNumThreads: 1 })
  .then((s) => s.release()).then(() => process.stdout.write("ok\\n"), (e) => process.stdout.write(JSON.stringify({ error: String((e && e.message) || e) }) + "\\n"));`;

function probeModel(): string {
  const g = new GraphBuilder("device_check");
  g.output(g.Identity(g.input("x", [1])), "y");
  return Buffer.from(writeModel(g, {}).bytes).toString("base64");
}

function probe(device: Device): Promise<void> {
  const ortPath = createRequire(import.meta.url).resolve("onnxruntime-node");
  const args = ["-e", CHILD, ortPath, JSON.stringify(executionProviders(device)), probeModel()];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (b: Buffer) => (out += b.toString()));
    p.stderr.on("data", (b: Buffer) => (err += b.toString()));
    p.on("error", reject);
    p.on("close", (code, signal) => {
      const line = out.trim().split("\n").pop() ?? "";
      if (line === "ok") return resolve();
      if (line.startsWith("{")) {
        const cause = new Error((JSON.parse(line) as { error: string }).error);
        return reject(providerError(device, cause) ?? new RuntimeError(`device "${device}": ONNX Runtime could not start its provider: ${cause.message}`, { cause }));
      }
      const last = err.trim().split("\n").pop() ?? "";
      reject(new RuntimeError(`device "${device}": starting its provider ended the probe process (${signal ?? `exit ${code}`})${last ? `: ${last}` : ""}`));
    });
  });
}

/**
 * Resolves when `device`'s provider starts (a one-node session in a child process); rejects with the
 * ConfigError that names the fix otherwise. "cpu" always passes; each device is probed once per process.
 *
 * @example
 * await checkDevice("cuda"); // ConfigError: device "cuda": ONNX Runtime's CUDA provider cannot be loaded (...); install it with `...`
 */
export function checkDevice(name: Device | string): Promise<void> {
  const device = parseDevice(name);
  if (device === "cpu") return Promise.resolve();
  let p = checked.get(device);
  if (!p) {
    p = probe(device);
    checked.set(device, p);
  }
  return p;
}
