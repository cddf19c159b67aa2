/** @file `snell info`: the model, the adapter (sites, config) and the trainable-parameter report, plus a run's checkpoint state. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { backboneOf } from "../../models/registry.js";
import { applyAdapters, type PeftModel } from "../../peft/apply.js";
import { moduleKinds } from "../../peft/targets.js";
import { loadTrainingCheckpoint } from "../../train/checkpoint.js";
import { readRunLog } from "../../train/run-log.js";
import { RUN_FILES } from "../../train/trainer.js";
import { EXIT, layeredConfig, println, type CliContext } from "./context.js";
import { buildBase, runSpecOf } from "./setup.js";
import { loadTrained } from "./trained.js";
import { addModelOptions } from "./train.js";

function describe(pm: PeftModel, ctx: CliContext): void {
  const c = pm.cfg;
  const b = backboneOf(c);
  println(ctx.stdout, `model: ${pm.baseName ?? b.arch}: ${b.describe(c)}, image ${c.inChans}x${c.imgSize}x${c.imgSize}, classes ${c.numClasses}`);
  println(ctx.stdout, `adapter: ${JSON.stringify(pm.config)}`);
  const kinds = moduleKinds(pm.sites);
  const blocks = new Set(pm.sites.map((s) => s.block).filter((b) => b !== null));
  println(ctx.stdout, `adapted modules: ${pm.sites.length} (${kinds.join(", ") || "none"}${blocks.size ? ` in ${blocks.size} blocks` : ""})`);
  const trained = pm.params.list().filter((p) => p.trainable);
  const byGroup = new Map<string, number>();
  for (const p of trained) {
    const last = p.name.slice(p.name.lastIndexOf(".") + 1);
    const group = last.startsWith(pm.method.prefix) ? `${pm.method.prefix}*` : p.name.split(".")[0]!;
    byGroup.set(group, (byGroup.get(group) ?? 0) + p.data.length);
  }
  println(ctx.stdout, `trained tensors: ${trained.length} (${[...byGroup].map(([g, n]) => `${g}: ${n.toLocaleString("en-US")}`).join(", ")})`);
  println(ctx.stdout, pm.trainableReport());
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("info").description("print the model, the adapter and the trainable-parameter report (of a run with --out, or of the given options)");
  addModelOptions(cmd)
    .option("--out <dir>", "a run folder: also prints its checkpoint and log state")
    .option("--adapter <dir>", "an adapter folder")
    .action(async () => {
      const o = cmd.opts() as { out?: string; adapter?: string };
      if (o.out || o.adapter) {
        const t = loadTrained(cmd);
        describe(t.pm, ctx);
        const dir = o.out ?? path.dirname(path.resolve(o.adapter!));
        const ck = path.join(dir, RUN_FILES.checkpoint);
        if (fs.existsSync(ck)) {
          const c = loadTrainingCheckpoint(ck);
          const f = (p: { epoch: number; top1: number; top5: number } | null) => (p ? `top-1 ${p.top1.toFixed(2)}% top-5 ${p.top5.toFixed(2)}% (epoch ${p.epoch + 1})` : "none");
          println(ctx.stdout, `checkpoint: ${ck}: ${c.epoch} epochs, ${c.step} steps; last ${f(c.accuracy.last)}; best ${f(c.accuracy.best)}`);
        }
        const log = path.join(dir, RUN_FILES.log);
        if (fs.existsSync(log)) println(ctx.stdout, `log: ${log}: ${readRunLog(log).length} epochs`);
      } else {
        const c = layeredConfig(cmd);
        const spec = runSpecOf(c);
        const built = buildBase(spec, spec.numClasses ?? 10);
        for (const n of built.notes) println(ctx.stderr, n);
        describe(applyAdapters(built.base, spec.peft, { seed: spec.seed }), ctx);
      }
      ctx.exitCode = EXIT.ok;
    });
}
