/**
 * @file What the library needs from its host besides ONNX Runtime: cores, memory figures, hashing,
 * garbage collection and files. Node (node.ts) and browsers (web.ts) each implement it; package.json's
 * "imports" map `#platform` to one of them by condition ("node", else "default"), so code under
 * src/ir, src/onnx, src/autodiff, src/runtime, src/models and src/peft imports no `node:` module.
 */

/** A file being written in order, chunk by chunk (ONNX external data). */
export interface FileSink {
  write(chunk: Uint8Array): void;
  close(): void;
}

/** The host's services, as one object so both implementations are checked against this one type. */
export interface Platform {
  /** "node" or "web": for messages and for the few defaults that differ (thread counts). */
  readonly name: "node" | "web";
  /** Cores this process may use (Node: os.availableParallelism; browsers: navigator.hardwareConcurrency). */
  availableParallelism(): number;
  /** Physical memory in bytes, or null where the host does not say (browsers). */
  totalMemoryBytes(): number | null;
  /** Peak resident set size of the process in MiB, or NaN where the host does not say. */
  peakRssMiB(): number;
  /** Current resident set size in MiB, or NaN where the host does not say. */
  currentRssMiB(): number;
  /** A full garbage collection where the host allows one (V8 in Node); a no-op elsewhere. */
  collectGarbage(): void;
  /** sha256 of `bytes` as lower-case hex (Node: node:crypto; browsers: a pure TypeScript digest). */
  sha256Hex(bytes: Uint8Array): string;
  /** The version in snell-ts's package.json ("0.0.0" when it cannot be found). */
  libraryVersion(): string;
  /** Joins path segments with the host's separator. */
  joinPath(...parts: string[]): string;
  /** The last segment of a path. */
  basename(p: string): string;
  /** A whole file's bytes; throws the host's error (callers wrap it with the file name). */
  readFile(file: string): Uint8Array;
  /** Writes a file atomically: readers see the old content or the new, never a mix. */
  writeFileAtomic(file: string, data: Uint8Array | string): void;
  /** Replaces folder `dir` as a whole by one holding `files` (name -> bytes or text). */
  writeFolderAtomic(dir: string, files: Readonly<Record<string, Uint8Array | string>>): void;
  /** Opens `file` for writing from the start (truncating it). */
  openFileSink(file: string): FileSink;
}
