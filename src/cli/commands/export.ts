/** @file `snell export`: the trained model as a standalone inference ONNX file (pixel_values -> logits). */
import type { Command } from "commander";
import { exportOnnx } from "../../peft/export.js";
import { EXIT, parseInteger, println, type CliContext } from "./context.js";
import { addRunOptions, loadTrained } from "./trained.js";

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("export").description("write the trained model as an ONNX file for inference (adapters merged where possible)");
  addRunOptions(cmd)
    .requiredOption("--output <file>", "the .onnx file")
    .option("--batch <n>", "static batch size of the exported graph (default 1)", parseInteger("--batch"))
    .option("--no-merge", "keep the adapter branches instead of folding them into the weights")
    .action(async () => {
      const o = cmd.opts() as { output: string; batch?: number; merge: boolean };
      const t = loadTrained(cmd);
      for (const n of t.notes) println(ctx.stderr, n);
      const r = exportOnnx(t.pm, o.output, { batch: o.batch ?? 1, merge: o.merge ? "auto" : false });
      println(ctx.stdout, `wrote ${r.path} (${(r.bytes / 2 ** 20).toFixed(1)} MiB, ${r.merged ? "merged" : "unmerged"}${r.dataPath ? `, weights in ${r.dataPath}` : ""}); input pixel_values [${o.batch ?? 1}, ${t.pm.cfg.inChans}, ${t.pm.cfg.imgSize}, ${t.pm.cfg.imgSize}], output logits`);
      ctx.exitCode = EXIT.ok;
    });
}
