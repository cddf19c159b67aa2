/** @file Minimal zip reader (stored + deflated, zip64) over a file or a buffer, reading entries on demand. */
import * as fs from "node:fs";
import { inflateSync } from "fflate";
import { FormatError } from "../errors.js";

/**
 * Random access to the bytes of one file. `read` of a file source returns a fresh buffer (offset 0,
 * so typed views over it are aligned); a memory source returns a zero-copy subarray.
 */
export interface ByteSource {
  /** The file path (or a label), put in every error message. */
  readonly name: string;
  readonly size: number;
  read(pos: number, len: number): Uint8Array;
}

/** Wraps bytes already in memory. */
export function memorySource(bytes: Uint8Array, name = "<buffer>"): ByteSource {
  return {
    name,
    size: bytes.length,
    read(pos, len) {
      if (pos < 0 || len < 0 || pos + len > bytes.length) throw new FormatError(`${name}: read of ${len} bytes at ${pos} runs past the end (${bytes.length} bytes)`);
      return bytes.subarray(pos, pos + len);
    },
  };
}

/**
 * Opens `file`, runs `body` with a source reading from it, and closes it. Reads are bounded by the
 * file size, so a hostile length field fails cleanly instead of allocating gigabytes.
 */
export function withFileSource<T>(file: string, body: (src: ByteSource) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, "r");
  } catch (cause) {
    throw new FormatError(`${file}: cannot open (${(cause as Error).message})`, { cause });
  }
  let closed = false;
  try {
    const size = fs.fstatSync(fd).size;
    return body({
      name: file,
      size,
      read(pos, len) {
        if (closed) throw new FormatError(`${file}: read after the file was closed; read it into memory to keep lazy entries`);
        if (pos < 0 || len < 0 || pos + len > size) throw new FormatError(`${file}: read of ${len} bytes at ${pos} runs past the end (${size} bytes)`);
        const buf = new Uint8Array(len);
        for (let done = 0; done < len;) {
          const got = fs.readSync(fd, buf, done, Math.min(len - done, 1 << 30), pos + done);
          if (got === 0) throw new FormatError(`${file}: file ended at byte ${pos + done}`);
          done += got;
        }
        return buf;
      },
    });
  } finally {
    closed = true;
    fs.closeSync(fd);
  }
}

/** One member of the archive as the central directory lists it. */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const U32_MAX = 0xffffffff;

function u16(b: Uint8Array, o: number): number { return b[o]! | (b[o + 1]! << 8); }
function u32(b: Uint8Array, o: number): number { return (u16(b, o) + u16(b, o + 2) * 65536); }
function u64(b: Uint8Array, o: number, src: string): number {
  const v = u32(b, o) + u32(b, o + 4) * 2 ** 32;
  if (!Number.isSafeInteger(v)) throw new FormatError(`${src}: zip64 field ${v} is out of range`);
  return v;
}

/** Quick check for the local-file-header magic. */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** A zip archive whose members are decompressed only when asked for. */
export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();

  private constructor(readonly src: ByteSource) {}

  /** Reads the central directory; fails with FormatError on anything inconsistent. */
  static open(src: ByteSource): ZipArchive {
    const zip = new ZipArchive(src);
    const name = src.name;
    if (src.size < 22) throw new FormatError(`${name}: not a zip archive (${src.size} bytes, too small)`);
    const tailLen = Math.min(src.size, 22 + 65535);
    const tail = src.read(src.size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail[i] === 0x50 && tail[i + 1] === 0x4b && tail[i + 2] === 0x05 && tail[i + 3] === 0x06) { eocd = i; break; }
    }
    if (eocd < 0) throw new FormatError(`${name}: not a zip archive (no end-of-central-directory record); truncated?`);
    let count = u16(tail, eocd + 10);
    let cdSize = u32(tail, eocd + 12);
    let cdOffset = u32(tail, eocd + 16);
    if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
      const loc = eocd - 20;
      if (loc < 0 || u32(tail, loc) !== 0x07064b50) throw new FormatError(`${name}: zip64 end-of-central-directory locator missing`);
      const z64 = u64(tail, loc + 8, name);
      const rec = src.read(z64, 56);
      if (u32(rec, 0) !== 0x06064b50) throw new FormatError(`${name}: bad zip64 end-of-central-directory record at ${z64}`);
      count = u64(rec, 32, name);
      cdSize = u64(rec, 40, name);
      cdOffset = u64(rec, 48, name);
    }
    if (cdOffset + cdSize > src.size) throw new FormatError(`${name}: central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the file (${src.size} bytes)`);
    const cd = src.read(cdOffset, cdSize);
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || u32(cd, p) !== 0x02014b50) throw new FormatError(`${name}: central directory entry ${i} is malformed`);
      const flags = u16(cd, p + 8);
      const method = u16(cd, p + 10);
      let compressedSize = u32(cd, p + 20);
      let size = u32(cd, p + 24);
      const nameLen = u16(cd, p + 28);
      const extraLen = u16(cd, p + 30);
      const commentLen = u16(cd, p + 32);
      let localOffset = u32(cd, p + 42);
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new FormatError(`${name}: central directory entry ${i} runs past the directory`);
      const entryName = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
      // Zip64 extra field: only the fields saturated in the fixed header are present, in this order.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
        const id = u16(cd, e);
        const len = u16(cd, e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          const end = e + 4 + len;
          const take = (): number => {
            if (q + 8 > end) throw new FormatError(`${name}: zip64 extra field of "${entryName}" is too short`);
            const v = u64(cd, q, name);
            q += 8;
            return v;
          };
          if (size === U32_MAX) size = take();
          if (compressedSize === U32_MAX) compressedSize = take();
          if (localOffset === U32_MAX) localOffset = take();
        }
        e += 4 + len;
      }
      p += 46 + nameLen + extraLen + commentLen;
      if (flags & 1) throw new FormatError(`${name}: entry "${entryName}" is encrypted`);
      if (method !== 0 && method !== 8) throw new FormatError(`${name}: entry "${entryName}" uses compression method ${method}; only stored (0) and deflate (8) are supported`);
      if (method === 0 && compressedSize !== size) throw new FormatError(`${name}: stored entry "${entryName}" has compressed size ${compressedSize} != size ${size}`);
      if (localOffset + compressedSize > src.size) throw new FormatError(`${name}: entry "${entryName}" runs past the end of the file`);
      zip.entries.set(entryName, { name: entryName, method, compressedSize, size, localOffset });
    }
    return zip;
  }

  /** The member's bytes; stored members from a memory source are zero-copy. */
  read(entryName: string): Uint8Array {
    const e = this.entries.get(entryName);
    const name = this.src.name;
    if (!e) throw new FormatError(`${name}: zip entry "${entryName}" is missing`);
    const local = this.src.read(e.localOffset, 30);
    if (u32(local, 0) !== 0x04034b50) throw new FormatError(`${name}: bad local header for zip entry "${entryName}" at ${e.localOffset}`);
    const start = e.localOffset + 30 + u16(local, 26) + u16(local, 28);
    if (start + e.compressedSize > this.src.size) throw new FormatError(`${name}: zip entry "${entryName}" runs past the end of the file`);
    const raw = this.src.read(start, e.compressedSize);
    if (e.method === 0) return raw;
    // Deflate expands at most ~1032x; a larger claim is a decompression bomb or a corrupt header.
    if (e.size > e.compressedSize * 1032 + 64) throw new FormatError(`${name}: zip entry "${entryName}" claims ${e.size} bytes from ${e.compressedSize} compressed`);
    let out: Uint8Array;
    try {
      out = inflateSync(raw, { out: new Uint8Array(e.size) });
    } catch (cause) {
      throw new FormatError(`${name}: zip entry "${entryName}" is not valid deflate data (${(cause as Error).message})`, { cause });
    }
    if (out.length !== e.size) throw new FormatError(`${name}: zip entry "${entryName}" inflated to ${out.length} bytes, header says ${e.size}`);
    return out;
  }
}
