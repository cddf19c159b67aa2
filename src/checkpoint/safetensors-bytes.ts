/**
 * @file safetensors as bytes: parse (F32/F16/BF16/F64/ints to float32, checksums verified) and encode (F32,
 * with checksums), no files, so browsers can use it; see https://github.com/huggingface/safetensors.
 * safetensors.ts adds the file readers and the atomic writer.
 */
import { FormatError, ShapeError } from "../errors.js";
import { CHECKSUM_KEY, parseChecksums, payloadSha256, verifyPayload } from "./checksum.js";
import {
  type CheckpointDType, type NamedTensor, DTYPE_BYTES, LITTLE_ENDIAN, brief, isCheckpointDType, shapeSize, viewOrDecode,
} from "./tensor.js";

export type { CheckpointDType, NamedTensor } from "./tensor.js";

/** The Rust reader's limit; a larger header is a hostile or broken file, not a real checkpoint. */
const MAX_HEADER_BYTES = 100_000_000;

/** A tensor as its header entry describes it, before the data is read. */
export interface SafetensorsEntry {
  name: string;
  dtype: CheckpointDType;
  shape: number[];
  /** Byte range inside the data section (which starts after the 8-byte length and the header). */
  begin: number;
  end: number;
}

/** A parsed header: entries in data order plus the free-form `__metadata__` strings. */
export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  /** `__metadata__` without our checksum entry. */
  metadata: Record<string, string>;
  /** sha256 of each tensor's payload, when the writer stored them (ours does; older and foreign files may not). */
  checksums?: Map<string, string>;
  /** File offset of the data section. */
  dataStart: number;
}

/** Tensors and metadata of one safetensors file. */
export interface SafetensorsFile {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

/** What `writeSafetensors` accepts per tensor; only float32 data is written. */
export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
}

/**
 * Validates a header JSON against the spec: known dtypes, sizes that match shapes, offsets that
 * tile the data section exactly (no gaps, no overlap, nothing out of range).
 */
export function parseHeader(json: Uint8Array, dataBytes: number, source: string): Omit<SafetensorsHeader, "dataStart"> {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (cause) {
    throw new FormatError(`${source}: safetensors header is not valid UTF-8 JSON (${(cause as Error).message})`, { cause });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new FormatError(`${source}: safetensors header must be a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    const where = `${source}: tensor "${name}"`;
    if (name === "__metadata__") {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw new FormatError(`${source}: __metadata__ must be an object of strings`);
      }
      for (const [k, s] of Object.entries(v)) {
        if (typeof s !== "string") throw new FormatError(`${source}: __metadata__["${k}"] must be a string, got ${brief(s)}`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== "object" || v === null) throw new FormatError(`${where}: header entry must be an object`);
    const { dtype, shape, data_offsets: offs } = v as Record<string, unknown>;
    if (!isCheckpointDType(dtype)) {
      throw new FormatError(`${where}: unsupported dtype ${brief(dtype)}; expected one of ${Object.keys(DTYPE_BYTES).join(", ")}`);
    }
    const numel = shapeSize(shape, where);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new FormatError(`${where}: data_offsets must be two non-negative integers, got ${brief(offs)}`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end || end > dataBytes) {
      throw new FormatError(`${where}: data_offsets [${begin}, ${end}] out of range of the ${dataBytes}-byte data section`);
    }
    if (end - begin !== numel * DTYPE_BYTES[dtype]) {
      throw new FormatError(`${where}: ${dtype} shape ${brief(shape)} needs ${numel * DTYPE_BYTES[dtype]} bytes, data_offsets give ${end - begin}`);
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin < at) throw new FormatError(`${source}: tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (ends at ${at})`);
    if (e.begin > at) throw new FormatError(`${source}: gap in data section before tensor "${e.name}" (bytes ${at}..${e.begin})`);
    at = e.end;
  }
  if (at !== dataBytes) throw new FormatError(`${source}: data section has ${dataBytes} bytes but tensors cover ${at}`);
  const checksums = parseChecksums(metadata[CHECKSUM_KEY], entries.map((e) => e.name), source);
  delete metadata[CHECKSUM_KEY];
  return { entries, metadata, ...(checksums ? { checksums } : {}) };
}

/** Reads and checks the 8-byte length; returns the header length. */
export function headerLength(prefix: Uint8Array, fileBytes: number, source: string): number {
  if (fileBytes < 8) throw new FormatError(`${source}: truncated safetensors file (${fileBytes} bytes, need at least 8)`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileBytes - 8)) throw new FormatError(`${source}: safetensors header length ${n} exceeds the file size ${fileBytes}`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new FormatError(`${source}: safetensors header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (n < 2n) throw new FormatError(`${source}: safetensors header length ${n} is too small for a JSON object`);
  return Number(n);
}

/** Parses a whole safetensors file held in memory; F32 tensors alias `bytes` where aligned. */
export function parseSafetensors(bytes: Uint8Array, source = "<buffer>"): SafetensorsFile {
  const n = headerLength(bytes, bytes.length, source);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, source);
  const base = 8 + n;
  const tensors = new Map<string, NamedTensor>();
  for (const e of header.entries) {
    const count = (e.end - e.begin) / DTYPE_BYTES[e.dtype];
    verifyPayload(header.checksums, e.name, bytes.subarray(base + e.begin, base + e.end), source);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: viewOrDecode(e.dtype, bytes, base + e.begin, count) });
  }
  return { tensors, metadata: header.metadata };
}

export type TensorsIn = Record<string, TensorToWrite> | Map<string, TensorToWrite>;

/**
 * Builds the 8-byte length + space-padded JSON header (8-byte aligned, as the Python writer does). The
 * metadata gains the sha256 of every tensor's bytes (CHECKSUM_KEY), which readers verify.
 */
export function encodeHeader(tensors: TensorsIn, metadata: Record<string, string> | undefined): { header: Uint8Array; list: [string, TensorToWrite][] } {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const json: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) {
    if (typeof v !== "string") throw new ShapeError(`writeSafetensors: metadata["${k}"] must be a string, got ${typeof v}`);
  }
  const sums: Record<string, string> = {};
  for (const [name, t] of list) if (t.data instanceof Float32Array) sums[name] = payloadSha256(tensorBytes(t));
  json.__metadata__ = { ...metadata, [CHECKSUM_KEY]: JSON.stringify(sums) };
  let offset = 0;
  for (const [name, t] of list) {
    if (name === "__metadata__") throw new ShapeError(`writeSafetensors: "__metadata__" is reserved and cannot name a tensor`);
    let numel: number;
    try {
      numel = shapeSize([...t.shape], `writeSafetensors "${name}"`);
    } catch (e) {
      throw new ShapeError((e as Error).message);
    }
    if (!(t.data instanceof Float32Array) || numel !== t.data.length) {
      throw new ShapeError(`writeSafetensors: tensor "${name}" has shape ${JSON.stringify(t.shape)} (${numel} elements) but ${t.data?.length} values`);
    }
    json[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + 4 * numel] };
    offset += 4 * numel;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8 + text.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, list };
}

export function tensorBytes(t: TensorToWrite): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(t.data.byteLength);
  const dv = new DataView(out.buffer);
  t.data.forEach((x, i) => dv.setFloat32(4 * i, x, true));
  return out;
}

/** Serialises tensors (as F32) and metadata to safetensors bytes in memory. */
export function encodeSafetensors(tensors: TensorsIn, metadata?: Record<string, string>): Uint8Array {
  const { header, list } = encodeHeader(tensors, metadata);
  const out = new Uint8Array(header.length + list.reduce((s, [, t]) => s + t.data.byteLength, 0));
  out.set(header, 0);
  let at = header.length;
  for (const [, t] of list) {
    out.set(tensorBytes(t), at);
    at += t.data.byteLength;
  }
  return out;
}

