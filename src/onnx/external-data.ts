/**
 * @file Saves a graph as an ONNX model file plus an external-data side file, the standard way to
 * export models whose weights pass the 2 GiB protobuf limit (ViT-H). ONNX Runtime resolves the side
 * file relative to the model's path.
 */
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { basename } from "node:path";
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
  let fd: number;
  try {
    fd = openSync(dataPath, "w");
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
        location: basename(dataPath),
        threshold: opts.threshold,
        write: (chunk) => {
          // writeSync may write less than asked for large buffers; loop until done.
          for (let off = 0; off < chunk.byteLength;) off += writeSync(fd, chunk, off, chunk.byteLength - off);
          dataBytes += chunk.byteLength;
        },
      },
    }));
  } finally {
    closeSync(fd);
  }
  writeFileSync(modelPath, bytes);
  return { modelPath, dataPath, modelBytes: bytes.byteLength, dataBytes };
}
