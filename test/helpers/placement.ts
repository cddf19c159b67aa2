/**
 * @file Where ONNX Runtime places each node of a graph: a session created in a child process with
 * verbose logging, whose "Node placements" block (session_state.cc, VerifyEachNodeIsAssignedToAnEp)
 * is parsed. The log comes from native code straight to the process's stderr, so it can only be read
 * from outside the process that creates the session.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** One node as ORT names it in the placement log. */
export interface PlacedNode {
  op: string;
  name: string;
}

/** Nodes by execution provider ("CPUExecutionProvider", "WebGpuExecutionProvider", ...). */
export type Placements = Map<string, PlacedNode[]>;

/** What the child process did, for a failure message. */
export interface PlacementRun {
  placements: Placements;
  /** The child's stderr, for a message when something is off. */
  log: string;
}

const HEADER = / (All nodes|Node\(s\)) placed on \[(\w+)\]\. Number of nodes: (\d+)/;
// ORT writes each node as "  OpType (node name)" under its provider's header.
const NODE = /VerifyEachNodeIsAssignedToAnEp\]\s{2,}(\w+) \((.*)\)\s*$/;

/**
 * Parses ORT's verbose placement block. With every node on one provider ORT prints only the count
 * ("All nodes placed on [X]. Number of nodes: N"); the nodes are then listed as "?" entries.
 *
 * @example
 * parsePlacements(stderr).get("CPUExecutionProvider")?.map((n) => n.op) // ["Sign", "Mod", ...]
 */
export function parsePlacements(log: string): Placements {
  const out: Placements = new Map();
  let current: PlacedNode[] | null = null;
  for (const line of log.split("\n")) {
    const h = HEADER.exec(line);
    if (h) {
      current = [];
      out.set(h[2]!, current);
      if (h[1] === "All nodes") {
        for (let i = 0; i < Number(h[3]); i++) current.push({ op: "?", name: "?" });
        current = null;
      }
      continue;
    }
    const n = current && NODE.exec(line);
    if (n) current!.push({ op: n[1]!, name: n[2]! });
    else if (current && !line.includes("VerifyEachNodeIsAssignedToAnEp")) current = null;
  }
  if (out.size === 0) throw new Error(`no "Node placements" block in ORT's log:\n${log.slice(-2000)}`);
  return out;
}

// The child: creates the session at verbose log level, and exits 0 once it exists.
const CHILD = `
import * as ort from "onnxruntime-node";
import { readFileSync } from "node:fs";
const [file, provider] = process.argv.slice(-2);
const s = await ort.InferenceSession.create(readFileSync(file), {
  executionProviders: [provider], logSeverityLevel: 0, logVerbosityLevel: 0, graphOptimizationLevel: "all",
});
await s.release();
`;

const REPO = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Creates a session of `model` on `provider` ("webgpu", "cpu", ...) in a child process with ORT's
 * verbose log and returns where each node was placed (after ORT's own graph optimisations, as a
 * training session sees it).
 */
export async function placementsOf(model: Uint8Array, provider = "webgpu"): Promise<PlacementRun> {
  const dir = mkdtempSync(join(tmpdir(), "placement-"));
  const file = join(dir, "model.onnx");
  try {
    writeFileSync(file, model);
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD, file, provider], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    if (code !== 0) throw new Error(`session on ${provider} failed (exit ${code}):\n${log.slice(-3000)}`);
    return { placements: parsePlacements(log), log };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
