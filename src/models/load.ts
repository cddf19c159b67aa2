/** @file Copies checkpoint tensors into a ParameterStore and reports what did not fit, as timm's load_state_dict(strict=False). */
import { ConfigError } from "../errors.js";
import type { ParameterStore } from "../ir/parameters.js";

/** A tensor as the checkpoint readers return it (their NamedTensor fits). */
export interface RawTensor {
  shape: number[];
  data: Float32Array;
}

/** A key present on both sides whose shapes differ; the parameter keeps its own values. */
export interface ShapeMismatch {
  key: string;
  expected: number[];
  got: number[];
}

/** What a load did, in PyTorch's terms. */
export interface LoadReport {
  /** Parameters whose values now come from the checkpoint. */
  loaded: string[];
  /** Parameters the checkpoint has no tensor for (they keep their init). */
  missing: string[];
  /** Checkpoint tensors no parameter takes. */
  unexpected: string[];
  /** Keys on both sides with different shapes (usually the head when numClasses differs). */
  mismatched: ShapeMismatch[];
}

export interface LoadOptions {
  /** Throw ConfigError when anything is missing, unexpected or mismatched (PyTorch's strict=True, plus shapes). */
  strict?: boolean;
  /** Parameters that may be absent from the checkpoint without counting as missing (e.g. adapter tensors). */
  ignoreMissing?: (name: string) => boolean;
}

const fmtShape = (s: readonly number[]) => `[${s.join(", ")}]`;

/** One line per problem, for logs and error messages. */
export function formatLoadReport(r: LoadReport): string {
  const lines = [`loaded ${r.loaded.length} tensors`];
  if (r.missing.length) lines.push(`missing keys (${r.missing.length}): ${r.missing.join(", ")}`);
  if (r.unexpected.length) lines.push(`unexpected keys (${r.unexpected.length}): ${r.unexpected.join(", ")}`);
  for (const m of r.mismatched) lines.push(`shape mismatch for ${m.key}: checkpoint ${fmtShape(m.got)}, model ${fmtShape(m.expected)} (kept the model's)`);
  return lines.join("\n");
}

/**
 * Loads `tensors` (already in timm keys: see checkpointFilter) into `params`. Tensors whose
 * shapes differ are skipped and reported; with `strict`, nothing is loaded and a ConfigError lists
 * every problem. The store takes the tensors' arrays without copying.
 *
 * @example
 * const report = loadPretrained(params, checkpointFilter(readSafetensors(file), cfg, "timm"));
 * if (report.mismatched.length) console.warn(formatLoadReport(report));
 */
export function loadPretrained(params: ParameterStore, tensors: ReadonlyMap<string, RawTensor>, { strict = false, ignoreMissing }: LoadOptions = {}): LoadReport {
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  const take: [string, Float32Array][] = [];
  for (const p of params.list()) {
    const t = tensors.get(p.name);
    if (!t) {
      if (!ignoreMissing?.(p.name)) report.missing.push(p.name);
      continue;
    }
    const same = t.shape.length === p.shape.length && t.shape.every((d, i) => d === p.shape[i]) && t.data.length === p.data.length;
    if (same) take.push([p.name, t.data]);
    else report.mismatched.push({ key: p.name, expected: [...p.shape], got: [...t.shape] });
  }
  for (const k of tensors.keys()) if (!params.has(k)) report.unexpected.push(k);
  if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
    throw new ConfigError(`loadPretrained (strict): checkpoint does not match the model\n${formatLoadReport({ ...report, loaded: take.map(([n]) => n) })}`);
  }
  for (const [name, data] of take) {
    params.set(name, data);
    report.loaded.push(name);
  }
  return report;
}
