/**
 * @file Start-up check of a split's images: every listed file exists and its header decodes (sharp
 * metadata, no pixel decoding), so a broken evaluation split fails before training, not after it.
 */
import sharp from "sharp";
import type { Dataset } from "./dataset.js";
import { FormatError } from "../errors.js";

/** Files checked at once; sharp reads headers on libuv's threads. */
const CONCURRENCY = 16;

/**
 * Reads the header of every file image of `ds`; throws a FormatError naming the list line and the file of
 * the first (in list order) that is missing or unreadable. In-memory images pass.
 */
export async function checkImageHeaders(ds: Dataset, what = "evaluation split"): Promise<void> {
  let next = 0;
  let firstBad: { index: number; error: FormatError } | null = null;
  const worker = async () => {
    for (let i = next++; i < ds.length && (firstBad === null || i < firstBad.index); i = next++) {
      const s = ds.item(i);
      if (typeof s.source !== "string") continue;
      try {
        const m = await sharp(s.source).metadata();
        if (!m.width || !m.height) throw new Error("no image size in the header");
      } catch (cause) {
        const where = s.origin && s.origin !== s.source ? `${s.origin}: ` : "";
        const error = new FormatError(`${where}${what}: unreadable image ${s.source} (${(cause as Error).message})`, { cause });
        if (firstBad === null || i < firstBad.index) firstBad = { index: i, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, ds.length) }, worker));
  if (firstBad !== null) throw (firstBad as { error: FormatError }).error;
}
