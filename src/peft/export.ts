/**
 * @file exportOnnx(): the adapted model as a standalone inference ONNX file (weights as
 * initializers, input "pixel_values", output "logits", as Transformers.js-style runtimes expect).
 */
import { platform } from "#platform";
import { ConfigError, FormatError } from "../errors.js";
import { GraphBuilder } from "../ir/builder.js";
import { BYTES_PER_ELEMENT } from "../ir/dtype.js";
import { ParameterStore, ParamBinder } from "../ir/parameters.js";
import { backboneOf } from "../models/registry.js";
import { saveModel } from "../onnx/external-data.js";
import { PROTOBUF_LIMIT, writeModel } from "../onnx/writer.js";
import { PeftModel } from "./apply.js";
import { canMerge, merge } from "./merge.js";

export interface ExportOptions {
  /** Static batch size of the exported graph. */
  batch?: number;
  /** Fold adapters into the weights ("auto": when the method allows; false: keep the adapter branches). */
  merge?: boolean | "auto";
  /**
   * Put the weights in a side file `<path>.data` (ONNX external data). "auto" (default): only when
   * they pass the 2 GiB protobuf limit (ViT-H); onnxruntime finds the side file next to the model.
   */
  externalData?: boolean | "auto";
  /**
   * An int8 inference graph: the merged block linears quantized per output channel (W0 + dW quantized
   * again) and run with per-row int8 activations, as `backbonePrecision: "int8"` trains. Needs merging.
   */
  int8?: boolean;
}

export interface ExportResult {
  path: string;
  /** Whether adapters were folded into the weights. */
  merged: boolean;
  /** Size of the model file. */
  bytes: number;
  /** The external-data side file, when one was written. */
  dataPath?: string;
}

/** The unmerged graph with every tensor frozen, so that all become initializers. */
function frozen(pm: PeftModel): PeftModel {
  const ps = new ParameterStore();
  for (const p of pm.params.list()) ps.addFrom(p, { trainable: false });
  return new PeftModel(pm.cfg, ps, pm.config, pm.method, pm.sites, pm.baseNames, pm.addedNames, pm.baseName);
}

/** The inference graph of `pm`: pixel_values [batch, C, H, W] -> logits, merged when asked and allowed. */
function exportGraph(pm: PeftModel, batch: number, mode: boolean | "auto", int8 = false): { g: GraphBuilder; merged: boolean } {
  if (!Number.isInteger(batch) || batch < 1) throw new ConfigError(`exportOnnx: batch must be a positive integer, got ${batch}`);
  const doMerge = mode === "auto" ? canMerge(pm) : mode;
  if (int8 && !doMerge) throw new ConfigError(`exportOnnx: an int8 export merges the adapter into the weights; method "${pm.method.name}" cannot be merged`);
  const g = new GraphBuilder("snell_export");
  const { cfg } = pm;
  const images = g.input("pixel_values", [batch, cfg.inChans, cfg.imgSize, cfg.imgSize]);
  let logits;
  if (doMerge) {
    const dense = merge(pm, { int8 });
    logits = backboneOf(cfg).forward(g, new ParamBinder(g, dense), cfg, images);
  } else {
    const f = frozen(pm);
    logits = f.forward(g, new ParamBinder(g, f.params), images, { train: false });
  }
  g.output(logits, "logits");
  return { g, merged: doMerge };
}

/**
 * The bytes `exportOnnx` writes, without a file (a web page offers them as a download); weights as
 * initializers, so the model must stay under the 2 GiB protobuf limit.
 *
 * @example
 * const { bytes } = exportOnnxBytes(pm, { batch: 1 });
 */
export function exportOnnxBytes(pm: PeftModel, { batch = 1, merge: mode = "auto", int8 = false }: Omit<ExportOptions, "externalData"> = {}): { bytes: Uint8Array; merged: boolean } {
  const { g, merged } = exportGraph(pm, batch, mode, int8);
  return { bytes: writeModel(g, { weights: "graph" }).bytes, merged };
}

/**
 * Writes the eval graph of `pm` to `file`: pixel_values [batch, C, H, W] -> logits [batch, classes].
 * Merged by default (same graph and cost as the plain backbone); written atomically.
 *
 * @example
 * exportOnnx(pm, "model.onnx", { batch: 1 });
 * const session = await ort.InferenceSession.create("model.onnx");
 */
export function exportOnnx(pm: PeftModel, file: string, { batch = 1, merge: mode = "auto", externalData = "auto", int8 = false }: ExportOptions = {}): ExportResult {
  const { g, merged: doMerge } = exportGraph(pm, batch, mode, int8);
  const weightBytes = g.initializers.reduce((s, v) => s + v.shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[v.dtype], 0);
  if (externalData === true || (externalData === "auto" && weightBytes > PROTOBUF_LIMIT)) {
    const saved = saveModel(g, file);
    return { path: file, merged: doMerge, bytes: saved.modelBytes, dataPath: saved.dataPath };
  }
  const { bytes } = writeModel(g, { weights: "graph" });
  try {
    platform.writeFileAtomic(file, bytes);
  } catch (cause) {
    throw new FormatError(`${file}: cannot write ONNX model (${(cause as Error).message})`, { cause });
  }
  return { path: file, merged: doMerge, bytes: bytes.byteLength };
}
