/** @file Batches of decoded images: seeded epoch-dependent shuffling, padding or dropping the last batch, prefetch on worker threads. */
import { ConfigError, FormatError } from "../errors.js";
import { Rng } from "../random.js";
import type { Dataset } from "./dataset.js";
import { decodeBatch, type BatchItem, type BatchRequest, type DecodedBatch } from "./decode.js";
import { DecodePool } from "./decode-pool.js";
import { isRandom, mixSeed, sampleLength, type TransformSpec } from "./transforms.js";

/** A batch ready for the step graph. */
export interface Batch {
  /** [batchSize, 3, size, size]; rows past `count` are zeros. */
  images: Float32Array;
  /** [batchSize]; rows past `count` are 0 (mask them with `count`). */
  labels: BigInt64Array;
  /** Real rows, at the front. */
  count: number;
  /** Dataset index of each real row (-1 in padding). */
  indices: Int32Array;
}

export interface LoaderOptions {
  batchSize: number;
  transform: TransformSpec;
  /** Shuffle each epoch with a permutation drawn from (seed, epoch). Default false. */
  shuffle?: boolean;
  /** Seeds shuffling and augmentation. Default 0. */
  seed?: number;
  /** Drop a last partial batch instead of padding it to batchSize. Default false. */
  dropLast?: boolean;
  /** Decode worker threads; 0 decodes in this thread (still concurrently through sharp). Default 0. */
  workers?: number;
  /** Batches decoded ahead of the one being consumed. Default 2. */
  prefetch?: number;
  /** Leave unreadable images out (counted in stats) instead of failing. Default false. */
  skipBadImages?: boolean;
  /**
   * Keep decoded tensors in memory and reuse them in later epochs; only applies when the transform draws
   * no random numbers (eval, snell-vtab). Costs 12*size^2 bytes per image. Default false.
   */
  cache?: boolean;
}

/** Decode throughput and how long the consumer waited for data. */
export interface LoaderStats {
  /** Images decoded (skipped ones and cache hits excluded). */
  images: number;
  /** Images left out under skipBadImages. */
  skipped: number;
  /** First few skip messages, naming the file. */
  skippedMessages: string[];
  /** Decode time summed over batches (across workers). */
  decodeSeconds: number;
  /** Wall time during which at least one batch was decoding. */
  busySeconds: number;
  /** images / busySeconds: decode throughput while decoding. */
  imagesPerSecond: number;
  /** Time the consumer spent blocked waiting on a batch: near 0 means decoding keeps up. */
  waitSeconds: number;
}

/** Batches in an epoch of `n` samples: a short last batch counts unless `dropLast`. */
export function batchCount(n: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/**
 * The order of sample indices in an epoch: identity without shuffle, else a Fisher-Yates permutation
 * seeded by (seed, epoch), so every loader over the same count gives the same order.
 */
export function epochOrder(n: number, shuffle: boolean, seed: number, epoch: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  if (!shuffle) return idx;
  // The index argument 0xffffffff keeps this stream apart from the per-sample augmentation streams.
  const rng = new Rng(mixSeed(seed, epoch, 0xffffffff));
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

/** Turns a Dataset into batches; one loader per split. Call close() to stop its workers. */
export class DataLoader {
  private readonly opts: Required<LoaderOptions>;
  private pool: DecodePool | null = null;
  private readonly st = { images: 0, skipped: 0, skippedMessages: [] as string[], decodeSeconds: 0, waitSeconds: 0, busySeconds: 0 };
  private readonly cache: Map<number, Float32Array> | null;
  private readonly bad = new Set<number>();
  private active = 0;
  private busySince = 0;

  constructor(readonly dataset: Dataset, opts: LoaderOptions) {
    this.opts = { shuffle: false, seed: 0, dropLast: false, workers: 0, prefetch: 2, skipBadImages: false, cache: false, ...opts };
    this.cache = this.opts.cache && !isRandom(this.opts.transform) ? new Map() : null;
    const { batchSize, workers, prefetch } = this.opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ConfigError(`batchSize must be a positive integer, got ${batchSize}`);
    if (!Number.isInteger(workers) || workers < 0) throw new ConfigError(`workers must be a non-negative integer, got ${workers}`);
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new ConfigError(`prefetch must be a non-negative integer, got ${prefetch}`);
    if (dataset.length === 0) throw new FormatError("empty dataset (no entries)");
    if (this.opts.dropLast && dataset.length < batchSize) {
      throw new ConfigError(`dropLast with batchSize ${batchSize} leaves no batch of a ${dataset.length}-image dataset`);
    }
  }

  /** Batches per epoch. */
  get numBatches(): number {
    return batchCount(this.dataset.length, this.opts.batchSize, this.opts.dropLast);
  }

  /** The epoch's order of dataset indices (identity without shuffle). */
  order(epoch: number): Int32Array {
    return epochOrder(this.dataset.length, this.opts.shuffle, this.opts.seed, epoch);
  }

  private request(order: Int32Array, b: number, epoch: number): BatchRequest {
    const { batchSize, transform, seed, skipBadImages } = this.opts;
    const items: BatchItem[] = [];
    for (let k = b * batchSize; k < Math.min(order.length, (b + 1) * batchSize); k++) {
      const index = order[k]!;
      const s = this.dataset.item(index);
      items.push({ index, source: s.source, label: s.label, ...(s.origin !== undefined ? { origin: s.origin } : {}) });
    }
    return { items, spec: transform, seed, epoch, batchSize, skipBadImages };
  }

  /** Decodes a batch, serving cached samples from memory when the cache is on. */
  private async fetch(req: BatchRequest): Promise<DecodedBatch> {
    const cache = this.cache;
    if (!cache) return this.decode(req);
    const per = sampleLength(req.spec);
    const missing = req.items.filter((it) => !cache.has(it.index) && !this.bad.has(it.index));
    const dec = missing.length > 0 ? await this.decode({ ...req, items: missing, batchSize: missing.length }) : null;
    if (dec) {
      for (let r = 0; r < dec.count; r++) cache.set(dec.indices[r]!, dec.images.slice(r * per, (r + 1) * per));
      for (const it of missing) if (!cache.has(it.index)) this.bad.add(it.index);
    }
    const images = new Float32Array(req.batchSize * per);
    const labels = new BigInt64Array(req.batchSize);
    const indices = new Int32Array(req.batchSize).fill(-1);
    let count = 0;
    for (const it of req.items) {
      const t = cache.get(it.index);
      if (!t) continue;
      images.set(t, count * per);
      labels[count] = BigInt(it.label);
      indices[count++] = it.index;
    }
    return { images, labels, count, indices, skipped: dec?.skipped ?? [], seconds: dec?.seconds ?? 0 };
  }

  private async decode(req: BatchRequest): Promise<DecodedBatch> {
    if (this.active++ === 0) this.busySince = performance.now();
    try {
      let d: DecodedBatch;
      if (this.opts.workers === 0) d = await decodeBatch(req);
      else {
        this.pool ??= new DecodePool(this.opts.workers);
        d = await this.pool.run(req);
      }
      this.st.images += d.count;
      this.st.skipped += d.skipped.length;
      for (const m of d.skipped) if (this.st.skippedMessages.length < 10) this.st.skippedMessages.push(m);
      this.st.decodeSeconds += d.seconds;
      return d;
    } finally {
      if (--this.active === 0) this.st.busySeconds += (performance.now() - this.busySince) / 1000;
    }
  }

  /** Starts the worker threads now, so the first epoch's timing does not include their start-up. */
  async warmUp(): Promise<void> {
    if (this.opts.workers === 0) return;
    this.pool ??= new DecodePool(this.opts.workers);
    await this.pool.ready();
  }

  /**
   * The epoch's batches in order; `prefetch` batches are decoded ahead of the consumer. `startBatch`
   * skips the first batches without decoding them (resuming mid-epoch gives the same later batches).
   */
  async *epoch(epoch: number, { startBatch = 0 }: { startBatch?: number } = {}): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const nb = this.numBatches;
    if (!Number.isInteger(startBatch) || startBatch < 0 || startBatch > nb) throw new ConfigError(`startBatch must be an integer in [0, ${nb}], got ${startBatch}`);
    const inflight: Array<Promise<DecodedBatch>> = [];
    let next = startBatch;
    const launch = () => {
      const p = this.fetch(this.request(order, next++, epoch));
      p.catch(() => undefined); // consumed below; avoids an unhandled rejection for batches never awaited
      inflight.push(p);
    };
    try {
      for (let b = startBatch; b < nb; b++) {
        while (next < nb && next <= b + this.opts.prefetch) launch();
        const tw = performance.now();
        const d = await inflight.shift()!;
        this.st.waitSeconds += (performance.now() - tw) / 1000;
        yield { images: d.images, labels: d.labels, count: d.count, indices: d.indices };
      }
    } finally {
      await Promise.allSettled(inflight);
    }
  }

  /** Running totals since construction. */
  get stats(): LoaderStats {
    const s = this.st;
    return {
      images: s.images,
      skipped: s.skipped,
      skippedMessages: [...s.skippedMessages],
      decodeSeconds: s.decodeSeconds,
      busySeconds: s.busySeconds,
      imagesPerSecond: s.busySeconds > 0 ? s.images / s.busySeconds : 0,
      waitSeconds: s.waitSeconds,
    };
  }

  /** Stops the worker threads. */
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = null;
  }
}
