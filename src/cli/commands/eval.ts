/** @file `snell eval`: top-1/top-5 of a saved adapter on a dataset split, optionally with per-image predictions. */
import type { Command } from "commander";
import { DataLoader } from "../../data/loader.js";
import { writeFileAtomic } from "../../checkpoint/atomic.js";
import { evaluateLoader, Evaluator } from "../../train/evaluate.js";
import { checkWritableFile } from "../output-path.js";
import { EXIT, layeredConfig, parseInteger, println, type CliContext } from "./context.js";
import { DATASET_FORMATS, defaultSplits, readSplit } from "./setup.js";
import { addRunOptions, loadTrained } from "./trained.js";
import { DEVICE_OPTION, deviceOf } from "../device-option.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("eval").description("evaluate a trained adapter (top-1 and top-5) on a dataset split");
  addRunOptions(cmd)
    .option("--data <dir>", "dataset folder (default: the run's)")
    .option("--dataset-format <fmt>", `layout of --data: ${DATASET_FORMATS.join(" | ")}`)
    .option("--fgvc-name <name>", "FGVC dataset name")
    .option("--split <name>", "split to evaluate (default: the run's evaluation split)")
    .option("--batch-size <n>", "evaluation batch size (default 64)", parseInteger("--batch-size"))
    .option("--workers <n>", "image decode threads (at most the cores)", parseInteger("--workers"))
    .option("--threads <n>", "ONNX Runtime threads (default: all cores; results differ in the last bits between counts)", parseInteger("--threads"))
    .option(...DEVICE_OPTION)
    .option("--skip-bad-images", "skip unreadable images (counted) instead of failing")
    .option("--predictions <file>", "write one JSON line per image: file, label, top-5 classes")
    .option("--json", "print the result as JSON on stdout")
    .action(async () => {
      ctx.exitCode = await runEval(cmd, ctx);
    });
}

async function runEval(cmd: Command, ctx: CliContext): Promise<number> {
  const o = cmd.opts() as { split?: string; batchSize?: number; workers?: number; skipBadImages?: boolean; predictions?: string; json?: boolean };
  const device = await deviceOf(layeredConfig(cmd));
  // Checked before the evaluation, not after minutes of it.
  if (o.predictions) checkWritableFile(o.predictions, "--predictions");
  const t = loadTrained(cmd);
  for (const n of t.notes) println(ctx.stderr, n);
  const split = o.split ?? t.spec.evalSplit ?? defaultSplits(t.spec)[1];
  const ds = readSplit(t.spec, split, t.pm.cfg.numClasses);
  const batch = o.batchSize ?? 64;
  const evaluator = await Evaluator.create(t.pm, batch, { device });
  const loader = new DataLoader(ds, { batchSize: batch, transform: t.evalTransform, workers: o.workers ?? 0, skipBadImages: Boolean(o.skipBadImages) });
  try {
    const want = Boolean(o.predictions || o.json);
    const r = await evaluateLoader((b) => evaluator.logits(b.images), loader, t.pm.cfg.numClasses, { predictions: want });
    const skipped = loader.stats.skipped;
    const source = (i: number) => {
      const s = ds.item(i).source;
      return typeof s === "string" ? s : ds.item(i).origin ?? `#${i}`;
    };
    const preds = r.predictions?.map((p) => ({ file: source(p.index), label: p.label, top: p.top }));
    if (o.predictions && preds) writeFileAtomic(o.predictions, preds.map((p) => JSON.stringify(p) + "\n").join(""));
    println(ctx.stderr, `${t.spec.data} split ${split}: top-1 ${r.top1.toFixed(2)}% top-5 ${r.top5.toFixed(2)}% on ${r.count} images` +
      `${skipped ? ` (${skipped} unreadable skipped)` : ""}, ${r.seconds.toFixed(1)} s${evaluator.merged ? " (adapter merged into the weights)" : ""}`);
    if (o.json) println(ctx.stdout, JSON.stringify({ split, top1: r.top1, top5: r.top5, count: r.count, skipped, predictions: preds }));
    return EXIT.ok;
  } finally {
    await loader.close();
    await evaluator.release();
  }
}
