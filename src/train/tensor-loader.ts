/**
 * @file Batches from tensors already in memory (e.g. the demo's MNIST digits), with the DataLoader's
 * interface, seeded shuffle and zero padding, so `train()` runs on them without decoding.
 */
import { batchCount, epochOrder, type Batch, type LoaderStats } from "../data/loader.js";
import { ConfigError, FormatError, ShapeError } from "../errors.js";

/** Preprocessed images [count, C, H, W] (row-major float32) with their labels. */
export interface TensorData {
  images: Float32Array;
  labels: BigInt64Array | ArrayLike<number>;
  count: number;
  /** Default: max label + 1. */
  numClasses?: number;
}

/** What the trainer and evaluateLoader read batches from: a DataLoader or a TensorLoader. */
export interface BatchSource {
  readonly numBatches: number;
  epoch(epoch: number, opts?: { startBatch?: number }): AsyncGenerator<Batch>;
  readonly stats: LoaderStats;
  close(): Promise<void>;
}

/** Whether `d` holds tensors rather than being a Dataset of files. */
export function isTensorData(d: unknown): d is TensorData {
  return typeof d === "object" && d !== null && (d as TensorData).images instanceof Float32Array;
}

/** Class count of tensor data: given, or max label + 1. */
export function tensorClasses(d: TensorData): number {
  if (d.numClasses !== undefined) return d.numClasses;
  let max = -1;
  for (let i = 0; i < d.count; i++) max = Math.max(max, Number(d.labels[i]));
  return max + 1;
}

/** A BatchSource over TensorData; the shuffle is the DataLoader's (same permutation for the same seed and epoch). */
export class TensorLoader implements BatchSource {
  private readonly per: number;
  private served = 0;
  constructor(
    readonly data: TensorData,
    /** Values per sample (C*H*W). */
    sampleSize: number,
    readonly opts: { batchSize: number; shuffle?: boolean; seed?: number; dropLast?: boolean },
  ) {
    this.per = sampleSize;
    if (data.count === 0) throw new FormatError("empty dataset (no entries)");
    if (data.images.length !== data.count * sampleSize) {
      throw new ShapeError(`tensor data: ${data.images.length} image values for ${data.count} samples of ${sampleSize} values`);
    }
    if (data.labels.length < data.count) throw new ShapeError(`tensor data: ${data.labels.length} labels for ${data.count} samples`);
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new ConfigError(`batchSize must be a positive integer, got ${opts.batchSize}`);
    if (opts.dropLast && data.count < opts.batchSize) throw new ConfigError(`dropLast with batchSize ${opts.batchSize} leaves no batch of ${data.count} samples`);
  }

  get numBatches(): number {
    return batchCount(this.data.count, this.opts.batchSize, this.opts.dropLast ?? false);
  }

  order(epoch: number): Int32Array {
    return epochOrder(this.data.count, this.opts.shuffle ?? false, this.opts.seed ?? 0, epoch);
  }

  async *epoch(epoch: number, { startBatch = 0 }: { startBatch?: number } = {}): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const B = this.opts.batchSize, per = this.per;
    for (let b = startBatch; b < this.numBatches; b++) {
      const images = new Float32Array(B * per);
      const labels = new BigInt64Array(B);
      const indices = new Int32Array(B).fill(-1);
      let count = 0;
      for (let k = b * B; k < Math.min(order.length, (b + 1) * B); k++, count++) {
        const i = order[k]!;
        images.set(this.data.images.subarray(i * per, (i + 1) * per), count * per);
        labels[count] = BigInt(this.data.labels[i]!);
        indices[count] = i;
      }
      this.served += count;
      yield { images, labels, count, indices };
    }
  }

  get stats(): LoaderStats {
    return { images: this.served, skipped: 0, skippedMessages: [], decodeSeconds: 0, busySeconds: 0, imagesPerSecond: 0, waitSeconds: 0 };
  }

  async close(): Promise<void> {}
}
