/**
 * @file The bundled-digits blob `snell web` serves: uint8 MNIST pixels and labels of the demo's
 * downstream task, decoded here into normalised tensors exactly as the demo builds them (browser-safe:
 * no node: imports).
 */
import { FormatError } from "../errors.js";
import type { TensorData } from "../train/tensor-loader.js";

/** "SNDG": snell digits. */
export const DIGITS_MAGIC = 0x47444e53;
/** Header: magic, rows, cols, classes, train count, test count (u32 little-endian each). */
export const DIGITS_HEADER_BYTES = 24;

/** Raw digits of one split: `count` images of rows*cols uint8 pixels and their labels. */
export interface RawDigits {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** Lays out the blob: header, train pixels, train labels, test pixels, test labels. */
export function encodeDigits(rows: number, cols: number, classes: number, train: RawDigits, test: RawDigits): Uint8Array {
  const px = rows * cols;
  const out = new Uint8Array(DIGITS_HEADER_BYTES + (train.count + test.count) * (px + 1));
  new Uint32Array(out.buffer, 0, 6).set([DIGITS_MAGIC, rows, cols, classes, train.count, test.count]);
  let at = DIGITS_HEADER_BYTES;
  for (const s of [train, test]) {
    out.set(s.pixels.subarray(0, s.count * px), at);
    at += s.count * px;
    out.set(s.labels.subarray(0, s.count), at);
    at += s.count;
  }
  return out;
}

/** Normalises pixels as the demo does: (p / 255 - mean) / std, per image [1, rows, cols]. */
function tensors(pixels: Uint8Array, labels: Uint8Array, count: number, classes: number, mean: number, std: number): TensorData {
  const images = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) images[i] = (pixels[i]! / 255 - mean) / std;
  return { images, labels: BigInt64Array.from(labels, (l) => BigInt(l)), count, numClasses: classes };
}

/** Decodes the blob into normalised train and test tensors; a damaged blob is a FormatError. */
export function decodeDigits(bytes: Uint8Array, mean: number, std: number): { train: TensorData; test: TensorData; classes: number; rows: number; cols: number } {
  if (bytes.byteLength < DIGITS_HEADER_BYTES) throw new FormatError(`digits blob: ${bytes.byteLength} bytes, shorter than its header`);
  const h = new DataView(bytes.buffer, bytes.byteOffset, DIGITS_HEADER_BYTES);
  const [magic, rows, cols, classes, nTrain, nTest] = [0, 4, 8, 12, 16, 20].map((o) => h.getUint32(o, true)) as [number, number, number, number, number, number];
  if (magic !== DIGITS_MAGIC) throw new FormatError("digits blob: wrong magic (not served by `snell web`)");
  const px = rows * cols;
  const want = DIGITS_HEADER_BYTES + (nTrain + nTest) * (px + 1);
  if (bytes.byteLength !== want) throw new FormatError(`digits blob: ${bytes.byteLength} bytes, its header says ${want}`);
  let at = DIGITS_HEADER_BYTES;
  const split = (n: number) => {
    const pixels = bytes.subarray(at, at + n * px);
    const labels = bytes.subarray(at + n * px, at + n * px + n);
    at += n * (px + 1);
    return tensors(pixels, labels, n, classes, mean, std);
  };
  const train = split(nTrain);
  const test = split(nTest);
  return { train, test, classes, rows, cols };
}
