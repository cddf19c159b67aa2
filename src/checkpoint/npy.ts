/** @file NumPy .npy reader (format v1-v3, little-endian numeric dtypes, C order); see numpy.lib.format. */
import * as fs from "node:fs";
import { FormatError } from "../errors.js";
import { type CheckpointDType, type NamedTensor, DTYPE_BYTES, shapeSize, viewOrDecode } from "./tensor.js";

/** numpy `descr` strings we read, and the stored type each one maps to. */
const DESCR: Record<string, CheckpointDType> = {
  "<f4": "F32", "<f8": "F64", "<f2": "F16",
  "<i8": "I64", "<i4": "I32", "<i2": "I16", "|i1": "I8", "|u1": "U8", "|b1": "BOOL",
};

/** The parsed header of an .npy file. */
export interface NpyHeader {
  dtype: CheckpointDType;
  shape: number[];
  /** Offset of the first data byte. */
  dataStart: number;
}

/**
 * Parses the magic, version and the Python-literal header dict. The dict is matched field by
 * field with regular expressions, never evaluated.
 */
export function parseNpyHeader(bytes: Uint8Array, source: string): NpyHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || !magic.every((m, i) => bytes[i] === m)) throw new FormatError(`${source}: not an .npy file (bad magic)`);
  const major = bytes[6]!;
  let len: number;
  let at: number;
  if (major === 1) { len = bytes[8]! | (bytes[9]! << 8); at = 10; }
  else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new FormatError(`${source}: truncated .npy header`);
    len = new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
    at = 12;
  } else throw new FormatError(`${source}: unsupported .npy format version ${major}.${bytes[7]}`);
  if (at + len > bytes.length) throw new FormatError(`${source}: .npy header length ${len} runs past the end (${bytes.length} bytes)`);
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(at, at + len));
  if (!text.trimStart().startsWith("{")) throw new FormatError(`${source}: .npy header is not a dict: ${JSON.stringify(text.slice(0, 60))}`);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FormatError(`${source}: .npy header lacks descr, fortran_order or shape: ${JSON.stringify(text.slice(0, 120))}`);
  }
  const dtype = DESCR[descr];
  if (!dtype) throw new FormatError(`${source}: unsupported .npy dtype '${descr}'; expected one of ${Object.keys(DESCR).join(", ")}`);
  if (fortran === "True") throw new FormatError(`${source}: fortran_order arrays are not supported; save with np.ascontiguousarray`);
  const dims = shapeText.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  const shape = dims.map((d) => {
    if (!/^\d{1,15}L?$/.test(d)) throw new FormatError(`${source}: bad .npy dimension ${JSON.stringify(d)}`);
    return parseInt(d, 10);
  });
  return { dtype, shape, dataStart: at + len };
}

/** Parses one .npy file held in memory; aligned F32 data is a view over `bytes`, not a copy. */
export function parseNpy(bytes: Uint8Array, source = "<buffer>"): NamedTensor {
  const { dtype, shape, dataStart } = parseNpyHeader(bytes, source);
  const numel = shapeSize(shape, source);
  const need = numel * DTYPE_BYTES[dtype];
  if (bytes.length - dataStart !== need) {
    throw new FormatError(`${source}: .npy ${dtype} shape ${JSON.stringify(shape)} needs ${need} data bytes, file has ${bytes.length - dataStart}${bytes.length - dataStart < need ? " (truncated)" : ""}`);
  }
  return { dtype, shape, data: viewOrDecode(dtype, bytes, dataStart, numel) };
}

/** Reads one .npy file. */
export function readNpy(file: string): NamedTensor {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (cause) {
    throw new FormatError(`${file}: cannot read (${(cause as Error).message})`, { cause });
  }
  return parseNpy(bytes, file);
}
