/** @file `snell predict IMG...`: top-k classes of image files under a saved adapter (same graph and preprocessing as eval). */
import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import { Evaluator } from "../../train/evaluate.js";
import { predictFiles } from "../../train/predict.js";
import { EXIT, layeredConfig, parseInteger, println, type CliContext } from "./context.js";
import { addRunOptions, loadTrained } from "./trained.js";
import { DEVICE_OPTION, deviceOf } from "../device-option.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("predict").description("print the top-k classes of image files under a trained adapter").argument("<images...>", "image files (JPEG, PNG, ...)");
  addRunOptions(cmd)
    .option("--top-k <k>", "classes to print per image (default 5)", parseInteger("--top-k"))
    .option("--batch-size <n>", "images per run (default 32)", parseInteger("--batch-size"))
    .option("--threads <n>", "ONNX Runtime threads (default: all cores; results differ in the last bits between counts)", parseInteger("--threads"))
    .option(...DEVICE_OPTION)
    .option("--json", "print one JSON line per image on stdout")
    .action(async (images: string[]) => {
      ctx.exitCode = await runPredict(cmd, images, ctx);
    });
}

async function runPredict(cmd: Command, images: string[], ctx: CliContext): Promise<number> {
  const o = cmd.opts() as { topK?: number; batchSize?: number; json?: boolean };
  const k = o.topK ?? 5;
  if (k < 1) throw new ConfigError(`--top-k must be >= 1, got ${k}`);
  const device = await deviceOf(layeredConfig(cmd));
  const t = loadTrained(cmd);
  for (const n of t.notes) println(ctx.stderr, n);
  const evaluator = await Evaluator.create(t.pm, Math.min(images.length, o.batchSize ?? 32), { device });
  try {
    const preds = await predictFiles(evaluator, images, t.evalTransform, { topK: k, ...(t.classNames ? { classNames: t.classNames } : {}) });
    for (const p of preds) {
      if (o.json) println(ctx.stdout, JSON.stringify(p));
      else println(ctx.stdout, `${p.file}: ${p.top.map((s) => `${s.name ?? s.class} (${(100 * s.prob).toFixed(1)}%)`).join(", ")}`);
    }
    return EXIT.ok;
  } finally {
    await evaluator.release();
  }
}
