/** @file `snell merge`: folds a trained adapter into the backbone and writes plain timm-layout weights. */
import * as path from "node:path";
import type { Command } from "commander";
import { writeSafetensors } from "../../checkpoint/safetensors.js";
import { exportOnnx } from "../../peft/export.js";
import { merge } from "../../peft/merge.js";
import { EXIT, parseInteger, println, type CliContext } from "./context.js";
import { addRunOptions, loadTrained } from "./trained.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("merge").description("fold a trained adapter into the weights (W0 + dW) and write a timm-layout .safetensors");
  addRunOptions(cmd)
    .requiredOption("--output <file>", "the merged weights (.safetensors), or with --int8 the int8 ONNX model")
    .option("--int8", "write an int8 ONNX inference model instead: W0 + dW quantized per output channel, activations per row (as --backbone-precision int8)")
    .option("--batch <n>", "static batch size of the --int8 model (default 1)", parseInteger("--batch"))
    .action(async () => {
      const o = cmd.opts() as { output: string; int8?: boolean; batch?: number };
      const t = loadTrained(cmd);
      for (const n of t.notes) println(ctx.stderr, n);
      if (o.int8) {
        const r = exportOnnx(t.pm, o.output, { batch: o.batch ?? 1, merge: true, int8: true });
        println(ctx.stdout, `wrote ${path.resolve(r.path)} (${(r.bytes / 2 ** 20).toFixed(1)} MiB, ${t.pm.config.method} merged, int8 block linears)${r.dataPath ? `, weights in ${r.dataPath}` : ""}`);
        ctx.exitCode = EXIT.ok;
        return;
      }
      const dense = merge(t.pm);
      const tensors = new Map(dense.list().map((p) => [p.name, { shape: p.shape, data: p.data }] as const));
      writeSafetensors(o.output, tensors, { format: "pt", model: t.pm.baseName ?? "vit", merged_method: t.pm.config.method });
      println(ctx.stdout, `wrote ${tensors.size} tensors (${t.pm.config.method} merged into ${t.pm.baseName ?? "the backbone"}) to ${path.resolve(o.output)}`);
      ctx.exitCode = EXIT.ok;
    });
}
