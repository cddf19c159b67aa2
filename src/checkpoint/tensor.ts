/** @file The tensor record every checkpoint reader returns, element sizes and half-precision decoding. */
import { FormatError } from "../errors.js";

/** Element types as safetensors names them; npy and PyTorch types are mapped onto these. */
export type CheckpointDType =
  | "F64" | "F32" | "F16" | "BF16"
  | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";

/**
 * One named tensor from a weight file. `dtype` is the type stored in the file; `data` is always
 * float32 (wider or integer types are converted, so int64 counters above 2^24 lose precision).
 */
export interface NamedTensor {
  dtype: CheckpointDType;
  shape: number[];
  data: Float32Array;
}

/** Bytes per element of each stored type. */
export const DTYPE_BYTES: Record<CheckpointDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** Narrows a string to a supported stored type. */
export function isCheckpointDType(s: unknown): s is CheckpointDType {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

/** True on little-endian hosts, where typed-array views over file bytes read correctly. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** JSON text of a header value for an error message, cut short so a hostile header cannot flood it. */
export function brief(v: unknown, max = 120): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/**
 * Element count of a shape, validated: dims must be non-negative safe integers and the product
 * must stay below 2^53. `where` names the file and tensor for the error.
 */
export function shapeSize(shape: unknown, where: string): number {
  if (!Array.isArray(shape)) throw new FormatError(`${where}: shape must be an array, got ${brief(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new FormatError(`${where}: invalid dimension ${brief(d)} in shape ${brief(shape)}`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) throw new FormatError(`${where}: shape ${brief(shape)} is too large`);
  }
  return n;
}

let f16Table: Float32Array | undefined;

/** All 65536 half-precision values as float32; 256 KB, built on first use. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  f16Table = t;
  return t;
}

/**
 * Decodes `count` little-endian elements of `dtype` starting at `bytes[offset]` into float32.
 * Never aliases `bytes`, so callers may reuse their read buffer.
 */
export function decodeToFloat32(
  dtype: CheckpointDType, bytes: Uint8Array, offset: number, count: number, out = new Float32Array(count),
): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, count * DTYPE_BYTES[dtype]);
  switch (dtype) {
    case "F32":
      if (LITTLE_ENDIAN && (bytes.byteOffset + offset) % 4 === 0) {
        out.set(new Float32Array(bytes.buffer, bytes.byteOffset + offset, count));
      } else for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      break;
    case "F64": for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true); break;
    case "F16": {
      const t = halfTable();
      for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(2 * i, true)]!;
      break;
    }
    case "BF16": {
      // bfloat16 is the top half of a float32: shift the bits into place.
      const u = new Uint32Array(out.buffer, out.byteOffset, count);
      for (let i = 0; i < count; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      break;
    }
    case "I64": for (let i = 0; i < count; i++) out[i] = Number(dv.getBigInt64(8 * i, true)); break;
    case "I32": for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, true); break;
    case "I16": for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true); break;
    case "I8": for (let i = 0; i < count; i++) out[i] = dv.getInt8(i); break;
    case "U8": case "BOOL": for (let i = 0; i < count; i++) out[i] = dv.getUint8(i); break;
  }
  return out;
}

/**
 * Float32 view of `count` elements at `bytes[offset]` when it can alias (aligned, little-endian
 * host), otherwise a decoded copy. Used for F32 data already held in memory, so no second copy.
 */
export function viewOrDecode(dtype: CheckpointDType, bytes: Uint8Array, offset: number, count: number): Float32Array {
  if (dtype === "F32" && LITTLE_ENDIAN && (bytes.byteOffset + offset) % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset + offset, count);
  }
  return decodeToFloat32(dtype, bytes, offset, count);
}
