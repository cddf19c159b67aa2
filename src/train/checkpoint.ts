/**
 * @file Training checkpoints: trainable tensors, optimizer moments, RNG state, counters and config in one
 * safetensors file, written atomically and refused when it belongs to another model.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { ConfigError, FormatError } from "../errors.js";
import { encodeSafetensors, loadSafetensors } from "../checkpoint/safetensors.js";
import type { AccuracyTrackerState } from "./metrics.js";
import { type AtomicWriteOptions, writeFileAtomic } from "../checkpoint/atomic.js";

/** A float32 tensor with its shape. */
export interface CheckpointTensor {
  shape: readonly number[];
  data: Float32Array;
}

/** JSON-serialisable data (what config, RNG state and extras may hold). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Everything needed to resume training exactly where it stopped. */
export interface TrainingCheckpoint {
  /** Trainable tensors by parameter name (adapter factors, head, ...). */
  params: Map<string, CheckpointTensor>;
  /** Optimizer state by the optimizer's own names (e.g. `exp_avg/<param>`, `exp_avg_sq/<param>`). */
  optimizer: Map<string, CheckpointTensor>;
  /** RNG states by stream name (e.g. `{ shuffle: 123, augment: 456 }` from `Rng.state`). */
  rng: { [stream: string]: JsonValue };
  /** Optimizer steps taken so far (AdamW's bias-correction count). */
  step: number;
  /** Epochs completed; resuming starts at this 0-based epoch. */
  epoch: number;
  /** Last and best evaluation so far. */
  accuracy: AccuracyTrackerState;
  /** The resolved training config (recipe + file + flags), for `snell info` and sanity checks. */
  config: JsonValue;
  /** modelFingerprint() of the model and adapter this state belongs to. */
  fingerprint: string;
  /** Human-readable description of what the fingerprint covers, quoted in mismatch errors. */
  fingerprintDescription?: string;
  /** Anything else the trainer wants back on resume. */
  extra?: JsonValue;
}

/** Value of the `format` metadata key; bumped when the layout changes incompatibly. */
export const TRAINING_CHECKPOINT_FORMAT = "snell-ts/training-checkpoint/1";

const PARAM = "param/";
const OPTIM = "optim/";

/** JSON with object keys sorted, so equal objects always hash the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/**
 * Fingerprint of a model: sha256 (hex, first 16 bytes) of the canonical JSON of whatever identifies it.
 * Pass the backbone variant, number of classes, PEFT config and the trainable names with their shapes,
 * so a checkpoint cannot be loaded into a model whose tensors would not line up.
 */
export function modelFingerprint(identity: unknown): string {
  return createHash("sha256").update(canonicalJson(identity)).digest("hex").slice(0, 32);
}

function addTensors(out: Map<string, CheckpointTensor>, prefix: string, src: Map<string, CheckpointTensor>): void {
  for (const [name, t] of src) out.set(prefix + name, t);
}

/**
 * Writes a training checkpoint to `file` atomically (temp file + fsync + rename): if the process dies at
 * any point, `file` still holds the previous complete checkpoint. Tensors are F32 safetensors (readable
 * by any safetensors tool), the rest is in the `__metadata__` strings.
 */
export function saveTrainingCheckpoint(file: string, ckpt: TrainingCheckpoint, opts: AtomicWriteOptions = {}): void {
  for (const [k, v] of [["step", ckpt.step], ["epoch", ckpt.epoch]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new ConfigError(`saveTrainingCheckpoint ${file}: ${k} must be a non-negative integer, got ${v}`);
  }
  const tensors = new Map<string, CheckpointTensor>();
  addTensors(tensors, PARAM, ckpt.params);
  addTensors(tensors, OPTIM, ckpt.optimizer);
  const metadata: Record<string, string> = {
    format: TRAINING_CHECKPOINT_FORMAT,
    step: String(ckpt.step),
    epoch: String(ckpt.epoch),
    fingerprint: ckpt.fingerprint,
    fingerprint_description: ckpt.fingerprintDescription ?? "",
    rng: JSON.stringify(ckpt.rng),
    accuracy: JSON.stringify(ckpt.accuracy),
    config: JSON.stringify(ckpt.config),
    extra: JSON.stringify(ckpt.extra ?? null),
  };
  // TODO(train): encodeSafetensors holds the whole file in memory once more; stream it if full
  // fine-tuning of large backbones makes that copy matter.
  writeFileAtomic(file, encodeSafetensors(tensors, metadata), opts);
}

/** Options of loadTrainingCheckpoint. */
export interface LoadCheckpointOptions {
  /** The current model's fingerprint; a different one in the file is refused with ConfigError. */
  fingerprint?: string;
  /** Description of the current model, quoted next to its fingerprint in the error. */
  fingerprintDescription?: string;
}

function parseJsonMeta(file: string, meta: Record<string, string>, key: string): JsonValue {
  const s = meta[key];
  if (s === undefined) throw new FormatError(`${file}: training checkpoint has no "${key}" metadata`);
  try {
    return JSON.parse(s) as JsonValue;
  } catch (cause) {
    throw new FormatError(`${file}: metadata "${key}" is not valid JSON (${(cause as Error).message})`, { cause });
  }
}

function parseCount(file: string, meta: Record<string, string>, key: string): number {
  const s = meta[key];
  const v = s !== undefined && /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(v)) throw new FormatError(`${file}: metadata "${key}" must be a non-negative integer, got ${JSON.stringify(s)}`);
  return v;
}

/** Reads a checkpoint written by saveTrainingCheckpoint back exactly (bit-identical tensors). */
export function loadTrainingCheckpoint(file: string, opts: LoadCheckpointOptions = {}): TrainingCheckpoint {
  if (!fs.existsSync(file)) throw new ConfigError(`checkpoint ${file} does not exist`);
  const { tensors, metadata } = loadSafetensors(file);
  if (metadata.format !== TRAINING_CHECKPOINT_FORMAT) {
    throw new FormatError(`${file}: not a training checkpoint (metadata format ${JSON.stringify(metadata.format)}, expected "${TRAINING_CHECKPOINT_FORMAT}")`);
  }
  const fingerprint = metadata.fingerprint ?? "";
  const description = metadata.fingerprint_description || undefined;
  if (opts.fingerprint !== undefined && opts.fingerprint !== fingerprint) {
    const theirs = description ? ` (${description})` : "";
    const ours = opts.fingerprintDescription ? ` (${opts.fingerprintDescription})` : "";
    throw new ConfigError(
      `checkpoint ${file} belongs to another model: its fingerprint is ${fingerprint}${theirs}, ` +
      `the current model's is ${opts.fingerprint}${ours}; use the same backbone, classes and adapter config, or start a new run`,
    );
  }
  const params = new Map<string, CheckpointTensor>();
  const optimizer = new Map<string, CheckpointTensor>();
  for (const [name, t] of tensors) {
    if (t.dtype !== "F32") throw new FormatError(`${file}: tensor "${name}" is ${t.dtype}, training checkpoints hold F32 only`);
    const entry = { shape: t.shape, data: t.data };
    if (name.startsWith(PARAM)) params.set(name.slice(PARAM.length), entry);
    else if (name.startsWith(OPTIM)) optimizer.set(name.slice(OPTIM.length), entry);
    else throw new FormatError(`${file}: unexpected tensor "${name}" (expected names starting with "${PARAM}" or "${OPTIM}")`);
  }
  const rng = parseJsonMeta(file, metadata, "rng");
  if (!rng || typeof rng !== "object" || Array.isArray(rng)) throw new FormatError(`${file}: metadata "rng" must be a JSON object`);
  const extra = parseJsonMeta(file, metadata, "extra");
  return {
    params,
    optimizer,
    rng,
    step: parseCount(file, metadata, "step"),
    epoch: parseCount(file, metadata, "epoch"),
    accuracy: parseJsonMeta(file, metadata, "accuracy") as unknown as AccuracyTrackerState,
    config: parseJsonMeta(file, metadata, "config"),
    fingerprint,
    fingerprintDescription: description,
    ...(extra === null ? {} : { extra }),
  };
}
