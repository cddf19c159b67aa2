/** @file `snell merge`: folds a trained adapter into the backbone and writes plain timm-layout weights. */
import * as path from "node:path";
import type { Command } from "commander";
import { writeSafetensors } from "../../checkpoint/safetensors.js";
import { merge } from "../../peft/merge.js";
import { EXIT, println, type CliContext } from "./context.js";
import { addRunOptions, loadTrained } from "./trained.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("merge").description("fold a trained adapter into the weights (W0 + dW) and write a timm-layout .safetensors");
  addRunOptions(cmd)
    .requiredOption("--output <file>", "the merged weights (.safetensors)")
    .action(async () => {
      const o = cmd.opts() as { output: string };
      const t = loadTrained(cmd);
      for (const n of t.notes) println(ctx.stderr, n);
      const dense = merge(t.pm);
      const tensors = new Map(dense.list().map((p) => [p.name, { shape: p.shape, data: p.data }] as const));
      writeSafetensors(o.output, tensors, { format: "pt", model: t.pm.baseName ?? "vit", merged_method: t.pm.config.method });
      println(ctx.stdout, `wrote ${tensors.size} tensors (${t.pm.config.method} merged into ${t.pm.baseName ?? "the backbone"}) to ${path.resolve(o.output)}`);
      ctx.exitCode = EXIT.ok;
    });
}
