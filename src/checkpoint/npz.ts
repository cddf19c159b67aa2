/** @file NumPy .npz archives (np.savez / savez_compressed), e.g. Google's ViT-B_16.npz, with raw key names. */
import { FormatError } from "../errors.js";
import { parseNpy } from "./npy.js";
import type { NamedTensor } from "./tensor.js";
import { type ByteSource, ZipArchive, memorySource, withFileSource } from "./zip.js";

function readArchive(src: ByteSource): Map<string, NamedTensor> {
  const zip = ZipArchive.open(src);
  const out = new Map<string, NamedTensor>();
  for (const name of zip.entries.keys()) {
    if (!name.endsWith(".npy")) throw new FormatError(`${src.name}: .npz member "${name}" is not an .npy file`);
    // Each member is read into its own buffer, so the archive is never held twice.
    out.set(name.slice(0, -4), parseNpy(zip.read(name), `${src.name}:${name}`));
  }
  return out;
}

/**
 * Reads every array of an .npz file, keyed by the member name without ".npy" (for Google ViT
 * checkpoints: "Transformer/encoderblock_0/MlpBlock_3/Dense_0/kernel" and so on, unmapped).
 */
export function readNpz(file: string): Map<string, NamedTensor> {
  return withFileSource(file, readArchive);
}

/** In-memory variant of {@link readNpz}; stored members alias `bytes`. */
export function parseNpz(bytes: Uint8Array, source = "<buffer>"): Map<string, NamedTensor> {
  return readArchive(memorySource(bytes, source));
}
