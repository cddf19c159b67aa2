/**
 * @file Saves a graph as an ONNX model file plus an external-data side file, the standard way to
 * export models whose weights pass the 2 GiB protobuf limit (ViT-H). ONNX Runtime resolves the side
 * file relative to the model's path. Files come from the host (src/platform); in a browser, call
 * writeModel with `externalData.write` instead.
 */
import { platform } from "#platform";
import type { FileSink } from "../platform/types.js";
import { FormatError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { writeModel, type WriteOptions } from "./writer.js";

export interface SavedModel {
  modelPath: string;
  /** The side file, `<model file name>.data` next to the model. */
  dataPath: string;
  modelBytes: number;
  dataBytes: number;
}

/**
 * Writes `modelPath` and `<modelPath>.data`. Initializers above `threshold` bytes go to the side file,
 * one tensor at a time, so lazy weight sources are materialised and written one by one.
 *
 * @example
 * saveModel(g, "vit_h.onnx"); // vit_h.onnx + vit_h.onnx.data
 * const session = await ort.InferenceSession.create("vit_h.onnx");
 */
export function saveModel(g: GraphBuilder, modelPath: string, opts: Omit<WriteOptions, "externalData" | "weights"> & { threshold?: number } = {}): SavedModel {
  const dataPath = `${modelPath}.data`;
  let sink: FileSink;
  try {
    sink = platform.openFileSink(dataPath);
  } catch (cause) {
    throw new FormatError(`cannot write external data file "${dataPath}": ${(cause as Error).message}`, { cause });
  }
  let dataBytes = 0;
  let bytes: Uint8Array;
  try {
    ({ bytes } = writeModel(g, {
      ...opts,
      weights: "graph",
      externalData: {
        location: platform.basename(dataPath),
        threshold: opts.threshold,
        write: (chunk) => {
          sink.write(chunk);
          dataBytes += chunk.byteLength;
        },
      },
    }));
  } finally {
    sink.close();
  }
  platform.writeFileAtomic(modelPath, bytes);
  return { modelPath, dataPath, modelBytes: bytes.byteLength, dataBytes };
}
