/** @file DataLoader: padding and dropping, seeded per-epoch shuffling, worker prefetch equal to in-process decoding, caching. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { IdxDataset, loadMnist } from "../../src/data/idx.js";
import { subset } from "../../src/data/dataset.js";
import { DataLoader, type Batch, type LoaderOptions } from "../../src/data/loader.js";
import { makeTransform } from "../../src/data/transforms.js";
import { readVtab } from "../../src/data/vtab.js";
import type { ListDataset } from "../../src/data/dataset.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

const tmp = tempDir();
let ds: ListDataset;
before(async () => {
  await writeVtabTask(join(tmp.dir, "task"), { numClasses: 3, perClass: 4, width: 20, height: 16 });
  ds = readVtab(join(tmp.dir, "task"), "train800val200"); // 24 images
});
after(() => tmp.remove());

async function collect(opts: LoaderOptions, epochs: number[]): Promise<{ batches: Batch[][]; loader: DataLoader }> {
  const loader = new DataLoader(ds, opts);
  try {
    const batches: Batch[][] = [];
    for (const e of epochs) {
      const out: Batch[] = [];
      for await (const b of loader.epoch(e)) out.push(b);
      batches.push(out);
    }
    return { batches, loader };
  } finally {
    await loader.close();
  }
}

const evalSpec = () => makeTransform("snell-vtab", { train: false, size: 8 });
const trainSpec = () => makeTransform("snell-fgvc", { train: true, size: 8 });

describe("batching", () => {
  test("the last batch is padded to batchSize with count real rows, or dropped", async () => {
    const { batches: [padded] } = await collect({ batchSize: 10, transform: evalSpec() }, [0]);
    assert.deepEqual(padded!.map((b) => b.count), [10, 10, 4]);
    const last = padded![2]!;
    assert.equal(last.images.length, 10 * 3 * 64);
    assert.equal(last.labels.length, 10);
    assert.deepEqual(Array.from(last.indices), [20, 21, 22, 23, -1, -1, -1, -1, -1, -1]);
    assert.deepEqual(Array.from(last.labels), [2n, 2n, 2n, 2n, 0n, 0n, 0n, 0n, 0n, 0n]); // val200's class 2, then padding
    assert.ok(last.images.subarray(4 * 192).every((v) => v === 0));
    assert.ok(last.images.subarray(0, 4 * 192).some((v) => v !== 0));
    const { batches: [dropped], loader } = await collect({ batchSize: 10, transform: evalSpec(), dropLast: true }, [0]);
    assert.deepEqual(dropped!.map((b) => b.count), [10, 10]);
    assert.equal(loader.numBatches, 2);
  });

  test("labels follow the dataset through shuffling", async () => {
    const { batches: [bs] } = await collect({ batchSize: 7, transform: evalSpec(), shuffle: true, seed: 1 }, [0]);
    for (const b of bs!) for (let r = 0; r < b.count; r++) assert.equal(b.labels[r], BigInt(ds.item(b.indices[r]!).label));
  });
});

describe("shuffling", () => {
  test("is a permutation fixed by (seed, epoch), different across epochs and seeds", () => {
    const a = new DataLoader(ds, { batchSize: 4, transform: evalSpec(), shuffle: true, seed: 7 });
    const b = new DataLoader(ds, { batchSize: 4, transform: evalSpec(), shuffle: true, seed: 7 });
    const c = new DataLoader(ds, { batchSize: 4, transform: evalSpec(), shuffle: true, seed: 8 });
    assert.deepEqual(a.order(3), b.order(3));
    assert.notDeepEqual(a.order(3), a.order(4));
    assert.notDeepEqual(a.order(3), c.order(3));
    assert.deepEqual(Array.from(a.order(3)).sort((x, y) => x - y), Array.from({ length: 24 }, (_, i) => i));
    const plain = new DataLoader(ds, { batchSize: 4, transform: evalSpec() });
    assert.deepEqual(Array.from(plain.order(9)), Array.from({ length: 24 }, (_, i) => i));
  });
});

describe("worker threads", () => {
  test("prefetching on 2 workers (started from the .ts source) gives the same batches as in-process decoding", async () => {
    const opts = { batchSize: 5, transform: trainSpec(), shuffle: true, seed: 11 };
    const inProc = await collect({ ...opts, workers: 0 }, [0, 1]);
    const pooled = await collect({ ...opts, workers: 2, prefetch: 3 }, [0, 1]);
    assert.equal(pooled.batches[0]!.length, 5);
    for (let e = 0; e < 2; e++) {
      pooled.batches[e]!.forEach((b, i) => {
        const ref = inProc.batches[e]![i]!;
        assert.equal(b.count, ref.count);
        assert.deepEqual(b.indices, ref.indices);
        assert.deepEqual(b.labels, ref.labels);
        assert.deepEqual(b.images, ref.images);
      });
    }
    // Augmentation differs between epochs for the same image.
    const row = (bs: Batch[], idx: number) => {
      for (const b of bs) for (let r = 0; r < b.count; r++) if (b.indices[r] === idx) return b.images.subarray(r * 192, (r + 1) * 192);
      throw new Error(`index ${idx} not found`);
    };
    assert.notDeepEqual(row(inProc.batches[0]!, 3), row(inProc.batches[1]!, 3));
    const st = pooled.loader.stats;
    assert.equal(st.images, 48);
    assert.ok(st.imagesPerSecond > 0 && st.busySeconds > 0 && st.decodeSeconds > 0);
  });

  test("an early break stops cleanly and close() ends the workers", async () => {
    const loader = new DataLoader(ds, { batchSize: 2, transform: trainSpec(), workers: 1, prefetch: 4 });
    let n = 0;
    for await (const b of loader.epoch(0)) {
      n += b.count;
      if (n >= 4) break;
    }
    await loader.close();
    assert.equal(n, 4);
  });
});

describe("cache", () => {
  test("deterministic transforms are decoded once and served from memory after", async () => {
    const { batches, loader } = await collect({ batchSize: 5, transform: evalSpec(), shuffle: true, seed: 2, cache: true }, [0, 1]);
    assert.equal(loader.stats.images, 24);
    const { batches: ref } = await collect({ batchSize: 5, transform: evalSpec(), shuffle: true, seed: 2 }, [0, 1]);
    assert.deepEqual(batches, ref);
    const { loader: rnd } = await collect({ batchSize: 5, transform: trainSpec(), cache: true }, [0, 1]);
    assert.equal(rnd.stats.images, 48, "random transforms are never cached");
  });
});

describe("MNIST through the loader", () => {
  test("raw 28x28 grey images resize to 32x32 RGB with equal channels after unnormalising", async () => {
    const mnist = subset(new IdxDataset(loadMnist("test")), [0, 1, 2]);
    const loader = new DataLoader(mnist, { batchSize: 4, transform: makeTransform("snell-vtab", { train: false, size: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }) });
    const [b] = await (async () => {
      const out: Batch[] = [];
      for await (const x of loader.epoch(0)) out.push(x);
      return out;
    })();
    assert.deepEqual([b!.count, Array.from(b!.labels)], [3, [7n, 2n, 1n, 0n]]);
    const plane = 32 * 32;
    for (let i = 0; i < plane; i++) {
      assert.equal(b!.images[i], b!.images[plane + i]);
      assert.equal(b!.images[i], b!.images[2 * plane + i]);
    }
    assert.equal(b!.images[0], -1); // black corner: (0 - 0.5) / 0.5
  });
});
