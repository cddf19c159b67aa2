/** @file safetensors files: header-only and whole-file readers (any size) and the atomic F32 writer; the byte-level parse and encode live in safetensors-bytes.ts. */
import * as fs from "node:fs";
import { FormatError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";
import { verifyPayload } from "./checksum.js";
import { DTYPE_BYTES, LITTLE_ENDIAN, decodeToFloat32 } from "./tensor.js";
import {
  type SafetensorsFile, type SafetensorsHeader, type TensorsIn, encodeHeader, headerLength, parseHeader, tensorBytes,
} from "./safetensors-bytes.js";
import type { NamedTensor } from "./tensor.js";

export type { CheckpointDType, NamedTensor } from "./tensor.js";
export {
  type SafetensorsEntry, type SafetensorsFile, type SafetensorsHeader, type TensorToWrite, encodeSafetensors, parseSafetensors,
} from "./safetensors-bytes.js";

/** Fills `buf` from `fd` at `pos`, failing clearly if the file ends early. */
function readFully(fd: number, buf: Uint8Array, pos: number, source: string): void {
  let done = 0;
  while (done < buf.length) {
    const got = fs.readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), pos + done);
    if (got === 0) throw new FormatError(`${source}: file ended at byte ${pos + done} while reading ${buf.length} bytes at ${pos}`);
    done += got;
  }
}

function openForRead<T>(file: string, body: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (cause) {
    throw new FormatError(`${file}: cannot open (${(cause as Error).message})`, { cause });
  }
  try {
    return body(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

function readHeaderFd(fd: number, size: number, file: string): SafetensorsHeader {
  const prefix = new Uint8Array(8);
  if (size >= 8) readFully(fd, prefix, 0, file);
  const n = headerLength(prefix, size, file);
  const json = new Uint8Array(n);
  readFully(fd, json, 8, file);
  return { ...parseHeader(json, size - 8 - n, file), dataStart: 8 + n };
}

/** Reads only the header of a safetensors file: names, dtypes, shapes and metadata, no data. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  return openForRead(file, (fd, size) => readHeaderFd(fd, size, file));
}

/**
 * Reads a safetensors file with its metadata. Each tensor is read straight into its own
 * Float32Array (F32) or through one reused scratch buffer (other types), so the file's bytes are
 * held once; works for files above Node's 2 GiB readFile limit.
 */
export function loadSafetensors(file: string): SafetensorsFile {
  return openForRead(file, (fd, size) => {
    const header = readHeaderFd(fd, size, file);
    const tensors = new Map<string, NamedTensor>();
    let scratch = new Uint8Array(0);
    for (const e of header.entries) {
      const nbytes = e.end - e.begin;
      const count = nbytes / DTYPE_BYTES[e.dtype];
      const data = new Float32Array(count);
      const pos = header.dataStart + e.begin;
      if (e.dtype === "F32" && LITTLE_ENDIAN) {
        readFully(fd, new Uint8Array(data.buffer), pos, file);
        verifyPayload(header.checksums, e.name, new Uint8Array(data.buffer), file);
      } else {
        if (scratch.length < nbytes) scratch = new Uint8Array(nbytes);
        const chunk = scratch.subarray(0, nbytes);
        readFully(fd, chunk, pos, file);
        verifyPayload(header.checksums, e.name, chunk, file);
        decodeToFloat32(e.dtype, chunk, 0, count, data);
      }
      tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
    }
    return { tensors, metadata: header.metadata };
  });
}

/** Reads all tensors of a safetensors file (float types and ints converted to float32). */
export function readSafetensors(file: string): Map<string, NamedTensor> {
  return loadSafetensors(file).tensors;
}

/**
 * Writes tensors as F32 safetensors, atomically (writeFileAtomic: temp file, fsync, rename, fsync of the
 * folder), so readers never see a half-written checkpoint. Tensor order is kept (Map or object insertion
 * order), so write -> read -> write is byte-exact.
 */
export function writeSafetensors(file: string, tensors: TensorsIn, metadata?: Record<string, string>): void {
  const { header, list } = encodeHeader(tensors, metadata);
  try {
    writeFileAtomic(file, [header, ...list.map(([, t]) => tensorBytes(t))]);
  } catch (cause) {
    throw new FormatError(`${file}: cannot write safetensors (${(cause as Error).message})`, { cause });
  }
}
