/**
 * @file From resolved CLI settings to objects: datasets in the four layouts, the backbone (random or from a
 * weight file, refusing weights of another architecture), the PEFT config and the transforms.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { readNpz } from "../../checkpoint/npz.js";
import { readPth } from "../../checkpoint/pth.js";
import { readSafetensors } from "../../checkpoint/safetensors.js";
import type { Dataset } from "../../data/dataset.js";
import { FGVC_IMAGE_ROOTS, readFgvc, type FgvcName, type FgvcSplit } from "../../data/fgvc.js";
import { IdxDataset, readIdxImages } from "../../data/idx.js";
import { readImageFolder } from "../../data/image-folder.js";
import { detectLayout } from "../../data/layout.js";
import { makeTransform, PRESETS, type PresetName, type TransformSpec } from "../../data/transforms.js";
import { readVtab, VTAB_SPLITS, type VtabSplit } from "../../data/vtab.js";
import { ConfigError, FormatError, unknownName } from "../../errors.js";
import type { BackboneConfigBase, PretrainedCfg } from "../../models/backbone.js";
import { int8WeightNames, parseBackbonePrecision, quantizeParams, type BackbonePrecision } from "../../models/backbone-precision.js";
import { checkModelFits } from "../../models/memory-estimate.js";
import { loadPretrained, type RawTensor } from "../../models/load.js";
import { backboneOf, checkpointLayouts, resolveVariant } from "../../models/registry.js";
import type { BaseModel } from "../../peft/apply.js";
import { getMethod } from "../../peft/registry.js";
import type { ParameterStore } from "../../ir/parameters.js";
import { Rng } from "../../random.js";
import type { ConfigObject } from "../config-file.js";
import { getRecipe } from "../recipes.js";
import { isExistingFile } from "../output-path.js";

export const DATASET_FORMATS = ["vtab", "fgvc", "imagefolder", "idx"] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];
/** "auto" (detect from the keys) and every layout a registered backbone's checkpoint filter names. */
export const WEIGHT_FORMATS: readonly string[] = ["auto", ...checkpointLayouts()];

/** Settings that identify the data, the model and the adapter of a run (the part of run.json eval/predict reuse). */
export interface RunSpec {
  data?: string;
  datasetFormat: DatasetFormat;
  fgvcName?: string;
  trainSplit?: string;
  evalSplit?: string;
  numClasses?: number;
  preprocess: PresetName;
  model: string;
  arch?: Record<string, unknown>;
  weights?: string;
  weightsFormat: string;
  /** The full PEFT config (method + options). */
  peft: Record<string, unknown>;
  /** Normalisation overriding the backbone variant's (`--mean`/`--std`), one value per model input channel. */
  mean?: number[];
  std?: number[];
  seed: number;
  classNames?: string[];
  /** List entries may be absolute or leave the data folder (--allow-outside-paths). */
  allowOutsidePaths?: boolean;
  /** "int8": the frozen block linears are stored and run int8 (`--backbone-precision`); absent: fp32. */
  backbonePrecision?: BackbonePrecision;
}

/** Our variant for the authors' `--model_name vit_base_patch16_224_in21k`. */
const RECIPE_MODELS: Record<string, string> = { vit_base_patch16_224_in21k: "vit_base_patch16_224.orig_in21k" };
/** The authors' FGVC folder names -> our FGVC reader names. */
const FGVC_NAMES: Record<string, FgvcName> = { cub: "cub", nabirds: "nabirds", stanforddog: "stanforddog", stanfordcar: "stanfordcars", oxfordflower: "oxfordflower" };

/**
 * The config layer a named recipe contributes (the authors' hyperparameters for one task). A SNELLA
 * recipe's allocator goes in as `peft.allocator` (a user's --peft merges over it); FGVC SNELLA sets the
 * trainer's model EMA. Recipes of the authors' dense MixK refuse: no method here trains it.
 */
export function recipeLayer(name: string): ConfigObject {
  const r = getRecipe(name);
  if (r.tuningModel === "mixk") {
    throw new ConfigError(`recipe "${r.name}" is the authors' dense MixK run (--tuning_model mixk: no sparsification, no allocator; ${r.source}); no method here trains that yet`);
  }
  const method: ConfigObject = r.method === "lora"
    ? { rank: r.rank, alpha: r.alpha ?? r.rank, dropout: r.dropout, dropPath: r.dropPath }
    : { rank: r.rank, sparsity: r.sparsity, dropout: r.dropout, dropPath: r.dropPath, ...(r.allocator ? { peft: { allocator: { ...r.allocator } } } : {}) };
  return {
    method: r.method, ...method, batchSize: r.batchSize, lr: r.lr, weightDecay: r.weightDecay,
    epochs: r.epochs, warmupEpochs: r.warmupEpochs, warmupLr: r.warmupLr, minLr: r.minLr, labelSmoothing: r.labelSmoothing,
    stochasticDepth: r.stochasticDepth, ...(r.modelEma !== null ? { modelEma: r.modelEma } : {}),
    evalEvery: r.evalInterval === 10 ? "authors" : r.evalInterval, preprocess: r.preprocess, seed: r.seed, model: RECIPE_MODELS[r.model] ?? r.model,
    datasetFormat: r.benchmark === "fgvc" ? "fgvc" : "vtab", trainSplit: r.trainSplit,
    ...(r.benchmark === "fgvc" ? { fgvcName: FGVC_NAMES[r.dataset] ?? r.dataset } : {}),
  };
}

/** Fields of the generic method flags (--rank, --sparsity, ...) copied into the PEFT config when given. */
export const PEFT_FLAGS = ["rank", "sparsity", "alpha", "kernel", "dropout", "dropPath", "targetModules"] as const;

/**
 * The PEFT config from `--method`, the method flags and `--peft JSON`. Flags a recipe filled in that the
 * chosen method does not have (a SNELL recipe's sparsity with `--method lora`) are dropped; ones the user
 * gave are kept, so the method's validation names them.
 */
export function peftConfigOf(c: ConfigObject, fromRecipe: ReadonlySet<string>): Record<string, unknown> {
  const method = String(c.method ?? "snell");
  const m = getMethod(method);
  const known = new Set([...Object.keys(m.defaults), ...(m.optionalFields ?? []), "excludeModules", "layers"]);
  const out: Record<string, unknown> = { ...((c.peft as Record<string, unknown> | undefined) ?? {}) };
  for (const k of PEFT_FLAGS) {
    if (c[k] === undefined) continue;
    if (!known.has(k) && fromRecipe.has(k)) continue;
    out[k] = c[k];
  }
  return { ...out, method };
}

function oneOf<T extends string>(what: string, v: unknown, valid: readonly T[]): T {
  if (!valid.includes(v as T)) throw unknownName(what, String(v), valid);
  return v as T;
}

/** Checks and types the data/model part of a merged config. */
export function runSpecOf(c: ConfigObject, fromRecipe: ReadonlySet<string> = new Set()): RunSpec {
  const spec: RunSpec = {
    // Without --dataset-format the folder's own files say which layout it is; VTAB-1k stays the fallback.
    datasetFormat: oneOf("dataset format", c.datasetFormat ?? (c.data !== undefined ? detectLayout(path.resolve(String(c.data))) : null) ?? "vtab", DATASET_FORMATS),
    preprocess: oneOf("preprocessing preset", c.preprocess ?? "snell-vtab", PRESETS),
    model: String(c.model ?? "vit_base_patch16_224.orig_in21k"),
    weightsFormat: oneOf("weights format", c.weightsFormat ?? "auto", WEIGHT_FORMATS),
    peft: peftConfigOf(c, fromRecipe),
    seed: (c.seed as number | undefined) ?? 0,
  };
  for (const k of ["data", "fgvcName", "trainSplit", "evalSplit"] as const) if (c[k] !== undefined) spec[k] = String(c[k]);
  if (c.numClasses !== undefined) spec.numClasses = c.numClasses as number;
  if (c.allowOutsidePaths === true) spec.allowOutsidePaths = true;
  if (c.backbonePrecision !== undefined && parseBackbonePrecision(c.backbonePrecision) === "int8") spec.backbonePrecision = "int8";
  if (c.mean !== undefined) spec.mean = numberList("--mean", c.mean);
  if (c.std !== undefined) spec.std = numberList("--std", c.std);
  if (c.arch !== undefined) spec.arch = c.arch as Record<string, unknown>;
  if (c.weights !== undefined) spec.weights = path.resolve(String(c.weights));
  if (c.data !== undefined) spec.data = path.resolve(String(c.data));
  return spec;
}

/** A list of numbers from a flag ("0.5,0.5,0.5", already split) or a config file (a list or one number). */
function numberList(flag: string, v: unknown): number[] {
  const items = Array.isArray(v) ? v : typeof v === "string" ? v.split(",") : [v];
  const out = items.map((x) => (typeof x === "string" && x.trim() !== "" ? Number(x) : x));
  if (out.length === 0 || out.some((x) => typeof x !== "number" || !Number.isFinite(x))) {
    throw new ConfigError(`${flag} must be a comma-separated list of numbers (one per model input channel), got ${JSON.stringify(v)}`);
  }
  return out as number[];
}

function idxFiles(dir: string, split: string): [string, string] {
  const stems = split === "test" ? ["test", "t10k"] : [split];
  for (const stem of stems) {
    for (const gz of ["", ".gz"]) {
      const im = path.join(dir, `${stem}-images-idx3-ubyte${gz}`);
      const lb = path.join(dir, `${stem}-labels-idx1-ubyte${gz}`);
      if (fs.existsSync(im) && fs.existsSync(lb)) return [im, lb];
    }
  }
  throw new FormatError(`missing split file ${path.join(dir, `${stems[stems.length - 1]}-images-idx3-ubyte`)} (IDX layout: <split>-images-idx3-ubyte and <split>-labels-idx1-ubyte, optionally .gz)`);
}

function fgvcName(spec: RunSpec): FgvcName {
  const name = spec.fgvcName ?? path.basename(spec.data!).toLowerCase();
  const mapped = FGVC_NAMES[name] ?? name;
  if (!(mapped in FGVC_IMAGE_ROOTS)) throw new ConfigError(`FGVC dataset name "${name}" is unknown; pass --fgvc-name, one of ${Object.keys(FGVC_IMAGE_ROOTS).join(", ")}`);
  return mapped as FgvcName;
}

/** Reads one split of the run's dataset; labels must lie in [0, numClasses) when given. */
export function readSplit(spec: RunSpec, split: string, numClasses?: number): Dataset & { classNames?: readonly string[] } {
  if (!spec.data) throw new ConfigError("no dataset: pass --data DIR");
  const dir = spec.data;
  const opts = { ...(numClasses !== undefined ? { numClasses } : {}), ...(spec.allowOutsidePaths ? { allowOutsidePaths: true } : {}) };
  switch (spec.datasetFormat) {
    case "vtab":
      return readVtab(dir, oneOf("VTAB split", split, VTAB_SPLITS) as VtabSplit, opts);
    case "fgvc":
      return readFgvc(dir, fgvcName(spec), oneOf("FGVC split", split, ["train", "val", "test", "trainval"] as const) as FgvcSplit, opts);
    case "imagefolder": {
      const ds = readImageFolder(path.join(dir, split));
      if (numClasses !== undefined && ds.numClasses > numClasses) {
        throw new FormatError(`${path.join(dir, split)}: ${ds.numClasses} class folders, but the model has ${numClasses} classes`);
      }
      return ds;
    }
    case "idx": {
      const [im, lb] = idxFiles(dir, split);
      return new IdxDataset(readIdxImages(im, lb), { ...opts, name: lb });
    }
  }
}

/**
 * Default split names per layout: [train, eval]. FGVC trains on train alone when it evaluates on test,
 * as the authors' `--test` runs do (build_dataset reads train.json for is_train); `--train-split trainval`
 * is the explicit alternative.
 */
export function defaultSplits(spec: RunSpec): [string, string] {
  switch (spec.datasetFormat) {
    case "vtab": return ["train800val200", "test"];
    case "fgvc": return ["train", "test"];
    case "imagefolder": return ["train", fs.existsSync(path.join(spec.data ?? "", "test")) ? "test" : "val"];
    case "idx": return ["train", "test"];
  }
}

/**
 * The model's architecture: any registered backbone's variant (models/registry.ts: timm names and tags,
 * named and test models), with `arch` overrides (checked against that backbone's config keys) and the
 * dataset's class count. `pretrained` is null for random-init test models.
 */
export function modelConfig(spec: RunSpec, numClasses: number): { cfg: BackboneConfigBase; pretrained: PretrainedCfg | null; name: string } {
  const v = resolveVariant(spec.model, { numClasses, ...spec.arch });
  checkModelFits(v.config, v.name);
  return { cfg: v.config, pretrained: v.pretrained, name: v.name };
}

/** The package's root folder (src/cli/commands/ or dist/cli/commands/ are three levels down). */
const PACKAGE_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** The weight file a variant ships with the package (the demo backbone), or undefined. */
export function shippedWeights(pretrained: PretrainedCfg | null): string | undefined {
  return pretrained?.file ? path.join(PACKAGE_ROOT, pretrained.file) : undefined;
}

/** Reads a weight file by its extension: .safetensors, .npz, .pth / .pth.tar / .pt / .bin (PyTorch zip). */
export function readWeightFile(file: string): Map<string, RawTensor> {
  if (!isExistingFile(file, "weights file")) throw new ConfigError(`weights file ${file} does not exist`);
  const f = file.toLowerCase();
  if (f.endsWith(".safetensors")) return readSafetensors(file);
  if (f.endsWith(".npz")) return readNpz(file);
  if (/\.(pth|pth\.tar|pt|bin|tar)$/.test(f)) return readPth(file).tensors;
  throw new ConfigError(`weights file ${file}: unknown extension; expected .safetensors, .npz, .pth or .pth.tar`);
}

/** Result of building the frozen backbone. */
export interface BuiltBase {
  base: BaseModel;
  pretrained: PretrainedCfg | null;
  /** Lines for the user (what was loaded, what was left at init). */
  notes: string[];
}

/**
 * Creates the backbone (random init from `spec.seed`) and loads `spec.weights` into it. The head may differ
 * (new task); any other missing or mis-shaped tensor means the file belongs to another model: ConfigError.
 */
export function buildBase(spec: RunSpec, numClasses: number): BuiltBase {
  const { cfg, pretrained, name } = modelConfig(spec, numClasses);
  const backbone = backboneOf(cfg);
  const params = backbone.createParams(cfg, new Rng(spec.seed));
  const notes: string[] = [];
  const weights = spec.weights ?? shippedWeights(pretrained);
  if (!weights) {
    if (pretrained) notes.push(`warning: no --weights given; ${name} starts from random weights`);
    return { base: { cfg, params: atPrecision(spec, cfg, params), name }, pretrained, notes };
  }
  spec = { ...spec, weights };
  const raw = readWeightFile(weights);
  const given = spec.weightsFormat !== "auto" ? spec.weightsFormat : null;
  const { tensors, source } = backbone.checkpointFilter
    ? backbone.checkpointFilter(raw, cfg, { ...(given ? { source: given } : {}), ...(pretrained ? { hint: pretrained.source } : {}), file: weights })
    : { tensors: raw, source: "timm" };
  // The classifier (the site outside the blocks) may differ: a new task's class count.
  const head = backbone.sites(cfg).find((s) => s.block === null)?.path;
  const isHead = (k: string) => head !== undefined && k.startsWith(`${head}.`);
  const report = loadPretrained(params, tensors, { ignoreMissing: isHead });
  const wrong = report.mismatched.filter((m) => !isHead(m.key));
  if (wrong.length || report.missing.length) {
    const detail = [
      ...wrong.slice(0, 3).map((m) => `${m.key} is [${m.got.join(", ")}] in the file, [${m.expected.join(", ")}] in the model`),
      ...(report.missing.length ? [`${report.missing.length} tensors missing (e.g. ${report.missing.slice(0, 3).join(", ")})`] : []),
    ];
    throw new ConfigError(`weights file ${spec.weights} (${source} layout) belongs to another model than ${name} (${backbone.describe(cfg)}): ${detail.join("; ")}`);
  }
  notes.push(`loaded ${report.loaded.length} tensors from ${spec.weights} (${source} layout)` +
    (report.mismatched.length ? "; head re-initialised for the new classes" : "") +
    (report.unexpected.length ? `; ignored ${report.unexpected.length} unused tensors (e.g. ${report.unexpected.slice(0, 2).join(", ")})` : ""));
  return { base: { cfg, params: atPrecision(spec, cfg, params), name }, pretrained, notes };
}

/** The loaded store, its block linears int8 for `--backbone-precision int8` (the float32 copies become garbage here). */
function atPrecision(spec: RunSpec, cfg: BackboneConfigBase, params: ParameterStore): ParameterStore {
  return spec.backbonePrecision === "int8" ? quantizeParams(params, int8WeightNames(cfg), "--backbone-precision int8") : params;
}

/**
 * Normalisation for the model: `--mean/--std`; else the variant's (timm preset, or any model that is not
 * RGB); else ImageNet's, which the SNELL presets use for every RGB backbone as the authors do.
 */
export function normalisationFor(spec: RunSpec, cfg: BackboneConfigBase, pretrained: PretrainedCfg | null): { mean?: readonly number[]; std?: readonly number[] } {
  if (spec.mean || spec.std) {
    if (!spec.mean || !spec.std) throw new ConfigError("pass --mean and --std together");
    return { mean: spec.mean, std: spec.std };
  }
  const fromVariant = pretrained && pretrained.mean.length === cfg.inChans && (spec.preprocess === "timm" || cfg.inChans !== 3);
  return fromVariant ? { mean: pretrained.mean, std: pretrained.std } : {};
}

/**
 * Train or eval preprocessing for the model: the preset at the model's input size and channel count
 * (grey or RGBA files are converted), normalised as normalisationFor says (timm: also the tag's crop).
 */
export function transformFor(spec: RunSpec, cfg: BackboneConfigBase, pretrained: PretrainedCfg | null, train: boolean): TransformSpec {
  const timm = spec.preprocess === "timm" && pretrained ? { interpolation: pretrained.interpolation, cropPct: pretrained.cropPct } : {};
  return makeTransform(spec.preprocess, { train, size: cfg.imgSize, channels: cfg.inChans, ...timm, ...normalisationFor(spec, cfg, pretrained) });
}
