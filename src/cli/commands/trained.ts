/** @file Rebuilds a trained model for eval/predict/merge/export/info: run.json settings, the backbone, the saved adapter. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Command } from "commander";
import { ConfigError } from "../../errors.js";
import { ADAPTER_CONFIG_FILE, loadPeftModel, readAdapterConfig } from "../../peft/adapter-io.js";
import type { PeftModel } from "../../peft/apply.js";
import type { TransformSpec } from "../../data/transforms.js";
import type { ConfigObject } from "../config-file.js";
import { layeredConfig, readRunJson, runDirOf } from "./context.js";
import { buildBase, runSpecOf, transformFor, type RunSpec } from "./setup.js";
import { backbonePrecisionOption } from "../precision-option.js";

/** Options every command that reads a trained run shares. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .option("--out <dir>", "the run folder `snell train --out` wrote (run.json, adapter/)")
    .option("--adapter <dir>", "an adapter folder (adapter_config.json + adapter_model.safetensors); default <out>/adapter")
    .option("--weights <file>", "backbone weights (default: the ones the run used)")
    .option("--weights-format <fmt>", "auto | timm | npz | mae | mocov3")
    .addOption(backbonePrecisionOption())
    .option("--config <file>", "JSON or YAML file with these options");
}

/** A trained model ready to run. */
export interface TrainedModel {
  pm: PeftModel;
  spec: RunSpec;
  /** The run's stored config merged with this command's file and flags. */
  config: ConfigObject;
  evalTransform: TransformSpec;
  classNames?: string[];
  notes: string[];
  adapterDir: string;
}

/** Loads `<adapter>` onto the backbone the run used (architecture from adapter_config.json, weights from run.json or --weights). */
export function loadTrained(cmd: Command, extra: ConfigObject = {}): TrainedModel {
  const o = cmd.opts() as { out?: string; adapter?: string };
  const { runDir, adapterDir } = runDirOf(o);
  if (!fs.existsSync(path.join(adapterDir, ADAPTER_CONFIG_FILE))) {
    throw new ConfigError(`no adapter in ${adapterDir} (${ADAPTER_CONFIG_FILE} missing); train first, or pass --adapter DIR`);
  }
  const run = runDir ? readRunJson(runDir) : null;
  const config = layeredConfig(cmd, (run?.config as ConfigObject | undefined) ?? {}, extra);
  const { meta } = readAdapterConfig(adapterDir);
  const cfg = meta.base_model.config;
  const spec = runSpecOf({ ...config, model: meta.base_model_name_or_path ?? config.model });
  // The adapter file records the exact architecture; use it (imgSize, depth, ...) over any stored override.
  spec.arch = { ...cfg };
  const built = buildBase(spec, cfg.numClasses);
  const pm = loadPeftModel(built.base, adapterDir);
  const classNames = (run?.classNames as string[] | undefined) ?? undefined;
  return {
    pm, spec, config, adapterDir, notes: built.notes,
    evalTransform: transformFor(spec, pm.cfg, built.pretrained, false),
    ...(classNames ? { classNames } : {}),
  };
}
