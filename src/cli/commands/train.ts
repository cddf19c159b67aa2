/** @file `snell train`: recipe + config file + flags -> datasets, backbone, adapters -> the training loop. */
import * as fs from "node:fs";
import * as path from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { ConfigError } from "../../errors.js";
import { backboneOf } from "../../models/registry.js";
import { applyAdapters } from "../../peft/apply.js";
import { writeFileAtomic } from "../../checkpoint/atomic.js";
import type { JsonValue } from "../../train/checkpoint.js";
import { RUN_FILES, train, TRAINER_DEFAULTS, type TrainerConfig } from "../../train/trainer.js";
import { resolveTrainerConfig } from "../../train/trainer-config.js";
import { mergeConfigs, type ConfigObject } from "../config-file.js";
import { inferNumClasses } from "../../data/label-check.js";
import { withLastCheckpoint } from "../error-map.js";
import { isExistingFile } from "../output-path.js";
import { recipeNames } from "../recipes.js";
import { checkResumeData, dataIdentity } from "../resume-data.js";
import { checkOutFolder, prepareRunFolder, settlePrevious } from "../run-folder.js";
import { backbonePrecisionOption } from "../precision-option.js";
import { DEVICE_OPTION, deviceOf } from "../device-option.js";
import { checkImageHeaders } from "../../data/preflight.js";
import { runBehaviour, RUN_SEMANTICS } from "../run-behaviour.js";
import {
  EXIT, interruptExit, layeredConfig, parseInteger, parseJsonObject, parseKeyValues, parseList, parseNumber, println, readRunJson, RUN_JSON,
  type CliContext,
} from "./context.js";
import { buildBase, DATASET_FORMATS, defaultSplits, readSplit, recipeLayer, runSpecOf, transformFor, WEIGHT_FORMATS } from "./setup.js";

/** Adds the data, model and method options shared by train and info. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .option("--data <dir>", "dataset folder (VTAB-1k task folder by default)")
    .addOption(new Option("--dataset-format <fmt>", "layout of --data").choices([...DATASET_FORMATS]))
    .option("--fgvc-name <name>", "FGVC dataset (cub, nabirds, stanforddog, stanfordcars, oxfordflower); default: the folder name")
    .option("--train-split <name>", "training split (vtab: train800val200, fgvc: train as the authors' --test runs, or trainval; imagefolder: train, idx: train)")
    .option("--eval-split <name>", "evaluation split (default test; imagefolder: test or val)")
    .option("--num-classes <n>", "class count (default: from the training labels)", parseInteger("--num-classes"))
    .addOption(new Option("--preprocess <preset>", "preprocessing preset").choices(["snell-vtab", "snell-fgvc", "timm"]))
    .option("--mean <list>", "normalisation mean, one value per model input channel (default: the backbone variant's; ImageNet's for RGB with the snell presets)", parseList)
    .option("--std <list>", "normalisation std, one value per model input channel (with --mean)", parseList)
    .option("--model <name>", "model name of any backbone (timm arch or arch.tag), e.g. vit_base_patch16_224.orig_in21k, demo-vit-mnist04 (the shipped demo backbone), or vit_test (tiny, random init)")
    .option("--arch <k=v,...>", "architecture overrides, e.g. imgSize=32,depth=2", parseKeyValues)
    .option("--weights <file>", "backbone weights: .safetensors, .npz or .pth[.tar]")
    .addOption(new Option("--weights-format <fmt>", "layout of the weights file").choices([...WEIGHT_FORMATS]))
    .option("--method <name>", "snell | snella | lora | adapter | bitfit | linear | full (default snell)")
    .option("--rank <n>", "adapter rank", parseInteger("--rank"))
    .option("--sparsity <s>", "SNELL: fraction of dW zeroed per matrix, in [0, 1)", parseNumber("--sparsity"))
    .option("--alpha <a>", "LoRA scale numerator", parseNumber("--alpha"))
    .option("--kernel <name>", "SNELL kernel: piecewise | linear | rbf | sigmoid")
    .option("--dropout <p>", "adapter input dropout", parseNumber("--dropout"))
    .option("--drop-path <p>", "adapter output drop-path", parseNumber("--drop-path"))
    .option("--target-modules <list>", "comma-separated module suffixes, e.g. attn.q,attn.v", parseList)
    .option("--peft <json>", "further method options as a JSON object", parseJsonObject("--peft"))
    .option("--seed <n>", "seed of the random init, shuffling, augmentation and dropout", parseInteger("--seed"))
    .option("--config <file>", "JSON or YAML file with any of these options (flags override it)");
}

const TRAINER_KEYS = Object.keys(TRAINER_DEFAULTS) as (keyof TrainerConfig)[];

/** `--model-ema DECAY`: timm ModelEmaV2's decay, a number strictly between 0 and 1. */
export function parseModelEma(v: string | number): number {
  const n = typeof v === "number" ? v : Number(v);
  if ((typeof v === "string" && v.trim() === "") || !(n > 0 && n < 1)) {
    throw new InvalidArgumentError(`--model-ema must be a decay in (0, 1), e.g. 0.9999, got "${v}"`);
  }
  return n;
}

/** The trainer's part of a merged config; `modelEma` (the trainer's EMA decay, null = off) is passed as given. */
export function trainerConfigOf(c: ConfigObject): Partial<TrainerConfig> {
  const out: Record<string, unknown> = {};
  for (const k of TRAINER_KEYS) if (c[k] !== undefined) out[k] = c[k];
  if (c.modelEma !== undefined && c.modelEma !== null) {
    try {
      out.modelEma = parseModelEma(c.modelEma as number);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  if (typeof out.evalEvery === "string" && out.evalEvery !== "authors") {
    const n = Number(out.evalEvery);
    if (!Number.isInteger(n)) throw new ConfigError(`--eval-every must be an integer or "authors", got "${out.evalEvery}"`);
    out.evalEvery = n;
  }
  return out as Partial<TrainerConfig>;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("train").description("fine-tune a ViT with a PEFT method (SNELL by default) on a dataset folder");
  addModelOptions(cmd)
    .option("--recipe <name>", `the authors' hyperparameters for a task, e.g. vtab/cifar, fgvc/cub (${recipeNames().length} recipes)`)
    .option("--epochs <n>", "training epochs", parseInteger("--epochs"))
    .option("--batch-size <n>", "training batch size", parseInteger("--batch-size"))
    .option("--eval-batch-size <n>", "evaluation batch size (default 2x batch size)", parseInteger("--eval-batch-size"))
    .option("--lr <x>", "peak learning rate", parseNumber("--lr"))
    .option("--weight-decay <x>", "AdamW weight decay", parseNumber("--weight-decay"))
    .option("--warmup-epochs <n>", "linear warm-up epochs (default 10)", parseInteger("--warmup-epochs"))
    .option("--warmup-lr <x>", "first warm-up lr (default 1e-6)", parseNumber("--warmup-lr"))
    .option("--min-lr <x>", "cosine floor (default 1e-5)", parseNumber("--min-lr"))
    .addOption(new Option("--schedule-update <when>", "lr changes per epoch (the authors) or per step").choices(["epoch", "step"]))
    .option("--label-smoothing <x>", "cross-entropy label smoothing", parseNumber("--label-smoothing"))
    .option("--stochastic-depth <rate>", "stochastic depth of the backbone's blocks (timm's drop_path_rate; recipes: 0.1)", parseNumber("--stochastic-depth"))
    .option("--clip-grad <x>", "clip gradients to this global norm", parseNumber("--clip-grad"))
    .option("--model-ema <decay>", "keep an EMA of the trained tensors (timm ModelEmaV2; the authors' FGVC SNELLA: 0.9999)", parseModelEma)
    .option("--eval-every <n>", "evaluate every N epochs (0: only at the end; 'authors': every 10th and the last 10)")
    .addOption(new Option("--eval-mode <mode>", "evaluate with adapters merged into the weights (fast) or through the unmerged graph").choices(["merged", "graph"]))
    .option("--workers <n>", "image decode threads (at most the cores)", parseInteger("--workers"))
    .option("--threads <n>", "ONNX Runtime threads per graph (default: all cores; results differ in the last bits between counts)", parseInteger("--threads"))
    .addOption(backbonePrecisionOption())
    .option(...DEVICE_OPTION)
    .option("--allow-outside-paths", "let list files name images outside --data (absolute or ../ paths)")
    .option("--prefetch <n>", "batches decoded ahead", parseInteger("--prefetch"))
    .option("--skip-bad-images", "skip unreadable images (counted) instead of failing")
    .option("--drop-last", "drop a short last batch instead of padding it")
    .option("--cache-images", "keep decoded images in memory across epochs (deterministic transforms only)")
    .option("--save-best", "also save the adapter of the best evaluation to <out>/adapter-best")
    .option("--out <dir>", "output folder: run.json, checkpoint.safetensors, log.jsonl, adapter/")
    .option("--resume", "continue the run in --out from its checkpoint")
    .option("--overwrite", "replace the run already in --out (its run.json, checkpoint, log and adapters), once everything is checked")
    .option("--no-progress", "no progress bar or step lines")
    .option("--json", "print the result as JSON on stdout")
    .action(async () => {
      ctx.exitCode = await runTrain(cmd, ctx);
    });
}

async function runTrain(cmd: Command, ctx: CliContext): Promise<number> {
  const first = layeredConfig(cmd);
  const out = path.resolve(String(first.out ?? "runs/snell"));
  checkOutFolder(out, first);
  const stored = first.resume ? readRunJson(out) : null;
  if (first.resume && !stored) throw new ConfigError(`nothing to resume: ${path.join(out, RUN_JSON)} does not exist (train without --resume first)`);
  const recipeName = (first.recipe ?? (stored?.config as ConfigObject | undefined)?.recipe) as string | undefined;
  const recipe = recipeName ? recipeLayer(recipeName) : {};
  const c = layeredConfig(cmd, recipe, (stored?.config as ConfigObject | undefined) ?? {});
  // A resume runs where its run.json says unless --device overrides it (eval and predict take only their own flag).
  const device = await deviceOf(c);
  const trainedOn = (stored?.config as ConfigObject | undefined)?.device ?? "cpu";
  if (stored && trainedOn !== device) println(ctx.stderr, `note: resuming on ${device} a run trained on ${String(trainedOn)}; results will differ in the last bits from an uninterrupted run`);
  const userKeys = new Set(Object.keys(mergeConfigs((stored?.config as ConfigObject | undefined) ?? {}, layeredConfig(cmd))));
  const fromRecipe = new Set(Object.keys(recipe).filter((k) => !userKeys.has(k)));
  const spec = runSpecOf(c, fromRecipe);
  const [trainSplit, evalSplit] = defaultSplits(spec);
  const trainSet = readSplit(spec, spec.trainSplit ?? trainSplit, spec.numClasses);
  const evalSet = readSplit(spec, spec.evalSplit ?? evalSplit, spec.numClasses);
  const numClasses = inferNumClasses([{ name: spec.trainSplit ?? trainSplit, ds: trainSet }, { name: spec.evalSplit ?? evalSplit, ds: evalSet }], spec.numClasses);
  if (spec.datasetFormat === "imagefolder" && JSON.stringify(evalSet.classNames) !== JSON.stringify(trainSet.classNames)) {
    throw new ConfigError(`class folders differ between ${spec.trainSplit ?? trainSplit} (${trainSet.classNames?.join(", ")}) and ${spec.evalSplit ?? evalSplit} (${evalSet.classNames?.join(", ")})`);
  }
  // Both splits are checked before anything is written: a broken evaluation list must not cost a training run.
  if (!c.skipBadImages) await checkImageHeaders(evalSet, `evaluation split ${spec.evalSplit ?? evalSplit}`);
  const identity = dataIdentity(spec, { train: spec.trainSplit ?? trainSplit, eval: spec.evalSplit ?? evalSplit }, numClasses, trainSet, evalSet);
  const dataNotes = stored ? checkResumeData(stored, identity, { train: trainSplit, eval: evalSplit }) : [];
  for (const n of dataNotes) println(ctx.stderr, n);
  const built = buildBase(spec, numClasses);
  for (const n of built.notes) println(ctx.stderr, n);
  const pm = applyAdapters(built.base, spec.peft, { seed: spec.seed, ...(spec.backbonePrecision ? { backbonePrecision: spec.backbonePrecision } : {}) });
  println(ctx.stderr, `model ${built.base.name} (${backboneOf(pm.cfg).describe(pm.cfg)}, ${numClasses} classes${pm.backbonePrecision === "int8" ? ", int8 block linears" : ""}) + ${pm.config.method} on ${pm.sites.length} modules: ${pm.trainableReport()}`);
  println(ctx.stderr, `data ${spec.data} (${spec.datasetFormat}): ${trainSet.length} training images, ${evalSet.length} evaluation images`);
  if (device !== "cpu") println(ctx.stderr, `device ${device}: trainable state stays in device memory between steps`);

  const stored0 = { ...c, out, data: spec.data, ...(spec.weights ? { weights: spec.weights } : {}) };
  delete (stored0 as ConfigObject).resume;
  delete (stored0 as ConfigObject).config;
  delete (stored0 as ConfigObject).json;
  delete (stored0 as ConfigObject).overwrite;
  (stored0 as ConfigObject).device = device;
  const transforms = { train: transformFor(spec, pm.cfg, built.pretrained, true), eval: transformFor(spec, pm.cfg, built.pretrained, false) };
  const trainerConfig = trainerConfigOf(c);
  const behaviour = runBehaviour({
    trainSplit: spec.trainSplit ?? trainSplit, evalSplit: spec.evalSplit ?? evalSplit, transforms,
    modelEma: (trainerConfig as { modelEma?: number | null }).modelEma ?? null, semantics: RUN_SEMANTICS,
    headInit: backboneOf(pm.cfg).headInit ?? "unrecorded",
  });
  const runJson = {
    format: "snell-ts/run/1", config: stored0, spec, numClasses, behaviour, dataIdentity: identity,
    ...(trainSet.classNames ? { classNames: [...trainSet.classNames] } : {}),
  };
  // Every trainer setting is checked before the first write too (train() checks them after run.json exists).
  resolveTrainerConfig(trainerConfigOf(c));
  // From here on this process is the folder's only writer; nothing was written before this point.
  const lock = prepareRunFolder(out, c);
  let failed = true;
  let stopSignal = null as AbortSignal | null;
  let result: Awaited<ReturnType<typeof train>>;
  try {
    // A resume keeps the run.json of the run it continues (a refused resume must not overwrite it); a moved
    // data folder (same lists) is recorded so eval and predict find it.
    if (!c.resume) writeFileAtomic(path.join(out, RUN_JSON), JSON.stringify(runJson, null, 2) + "\n");
    else if (stored && dataNotes.length) writeFileAtomic(path.join(out, RUN_JSON), JSON.stringify(movedRunJson(stored, identity), null, 2) + "\n");

    // A kill before the first checkpoint leaves run.json and no checkpoint: --resume then starts over.
    const resume = Boolean(c.resume) && isExistingFile(path.join(out, RUN_FILES.checkpoint), "checkpoint");
    if (c.resume && !resume) println(ctx.stderr, `no checkpoint in ${out} yet; training from the start`);
    result = await ctx.withInterrupt((signal) => (stopSignal = signal, train({
      model: pm, train: trainSet, eval: evalSet,
      transforms, config: trainerConfig, outDir: out, resume, signal,
      log: (line) => println(ctx.stderr, line),
      progress: c.progress === false ? false : { stream: ctx.stderr },
      runConfig: stored0 as unknown as JsonValue, session: { device },
    }))).catch((e: unknown) => {
      throw withLastCheckpoint(e, out, RUN_FILES.checkpoint);
    });
    failed = false;
  } finally {
    // --overwrite: the old run comes back unless the new one got through (an interrupt keeps the new, resumable one).
    if (c.overwrite) settlePrevious(out, !failed);
    lock.release();
  }
  if (result.interrupted) {
    println(ctx.stderr, `interrupted after ${result.steps} steps; checkpoint ${result.checkpoint}. Resume with: snell train --resume --out ${out}`);
    return stopSignal ? interruptExit(stopSignal) : EXIT.interrupted;
  }
  if (result.skippedImages > 0) println(ctx.stderr, `skipped ${result.skippedImages} unreadable images (--skip-bad-images)`);
  println(ctx.stderr, result.summary);
  println(ctx.stderr, `adapter: ${result.adapterDir}; log: ${path.join(out, RUN_FILES.log)}; ${result.seconds.toFixed(1)} s, peak RSS ${Math.round(result.peakRssMiB)} MiB`);
  if (c.json) {
    println(ctx.stdout, JSON.stringify({
      last: result.last, best: result.best, epochs: result.epochsDone, steps: result.steps, seconds: result.seconds,
      peakRssMiB: result.peakRssMiB, trainable: result.trainable, all: result.all, adapter: result.adapterDir, history: result.history,
    }));
  }
  return EXIT.ok;
}

/** run.json of a resumed run whose data folder moved (same lists): the new folder, everything else kept. */
function movedRunJson(stored: ConfigObject, identity: ReturnType<typeof dataIdentity>): ConfigObject {
  const data = identity.data ?? undefined;
  return {
    ...stored, config: { ...(stored.config as ConfigObject), data }, spec: { ...(stored.spec as ConfigObject), data }, dataIdentity: identity as unknown as ConfigObject,
  };
}
