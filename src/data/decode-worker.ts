/** @file Worker-thread entry: decodes the batches the loader's pool posts, and posts them back transferred. */
import { parentPort } from "node:worker_threads";
import sharp from "sharp";
import { FormatError } from "../errors.js";
import { decodeBatch, type BatchRequest } from "./decode.js";

/** Message the pool posts: a batch to decode. */
export interface WorkerTask {
  id: number;
  req: BatchRequest;
}

/** Message a worker posts back. */
export type WorkerReply =
  | { id: number; ok: true; batch: Awaited<ReturnType<typeof decodeBatch>> }
  | { id: number; ok: false; message: string; format: boolean };

if (parentPort) {
  const port = parentPort;
  // Each worker is one decoding lane; libvips threads on top would oversubscribe the cores.
  sharp.concurrency(1);
  sharp.cache(false);
  port.on("message", (task: WorkerTask) => {
    decodeBatch(task.req).then(
      (batch) => port.postMessage({ id: task.id, ok: true, batch } satisfies WorkerReply, [batch.images.buffer as ArrayBuffer, batch.labels.buffer as ArrayBuffer, batch.indices.buffer as ArrayBuffer]),
      (err: unknown) =>
        port.postMessage({ id: task.id, ok: false, message: err instanceof Error ? err.message : String(err), format: err instanceof FormatError } satisfies WorkerReply),
    );
  });
  port.postMessage("ready");
}
