/** @file A pool of decode worker threads; starts from the .ts source under tsx and from .js when compiled. */
import { Worker } from "node:worker_threads";
import { FormatError, RuntimeError } from "../errors.js";
import type { BatchRequest, DecodedBatch } from "./decode.js";
import type { WorkerReply, WorkerTask } from "./decode-worker.js";

/**
 * Starts one decode worker. Node 20 does not apply the parent's `--import tsx` hooks to a worker's entry URL,
 * so a .ts entry is loaded through tsx's own tsImport from a small eval bootstrap.
 */
function spawn(): Worker {
  const self = import.meta.url;
  const isTs = /\.[cm]?ts$/.test(new URL(self).pathname);
  const entry = new URL(isTs ? "./decode-worker.ts" : "./decode-worker.js", self);
  if (!isTs) return new Worker(entry);
  const api = import.meta.resolve("tsx/esm/api");
  const code = `import(${JSON.stringify(api)}).then((m) => m.tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(self)}))` +
    `.catch((e) => { process.nextTick(() => { throw e; }); });`;
  return new Worker(code, { eval: true, execArgv: [] });
}

interface Lane {
  worker: Worker;
  ready: Promise<void>;
  busy: number;
  /** Why the worker stopped; a dead lane gets no more work. */
  dead: Error | null;
}

/** Worker threads that decode whole batches; tasks go to the least busy lane. */
export class DecodePool {
  private readonly lanes: Lane[] = [];
  private readonly pending = new Map<number, { resolve: (b: DecodedBatch) => void; reject: (e: Error) => void; lane: Lane }>();
  private nextId = 0;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`DecodePool size must be a positive integer, got ${size}`);
    for (let i = 0; i < size; i++) this.lanes.push(this.startLane());
  }

  private startLane(): Lane {
    const worker = spawn();
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    const lane: Lane = { worker, busy: 0, dead: null, ready: new Promise<void>((res, rej) => ((onReady = res), (onFail = rej))) };
    lane.ready.catch(() => undefined);
    worker.on("message", (msg: WorkerReply | "ready") => {
      if (msg === "ready") {
        this.refState(lane);
        return onReady();
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      lane.busy--;
      this.refState(lane);
      if (msg.ok) p.resolve(msg.batch);
      else p.reject(msg.format ? new FormatError(msg.message) : new RuntimeError(`decode worker failed: ${msg.message}`));
    });
    const fail = (e: Error) => {
      lane.dead ??= e;
      onFail(e);
      for (const [id, p] of this.pending) {
        if (p.lane === lane) {
          this.pending.delete(id);
          p.reject(e);
        }
      }
    };
    worker.on("error", (err) => fail(new RuntimeError(`decode worker crashed: ${err.message}`, { cause: err })));
    worker.on("exit", (code) => {
      if (!this.closed) fail(new RuntimeError(`decode worker exited with code ${code}`));
    });
    // Stays referenced until it reports ready, so awaiting start-up keeps the process alive.
    return lane;
  }

  // Idle workers must not keep the process alive; busy ones must, or an awaited batch could be lost.
  private refState(lane: Lane): void {
    if (lane.busy > 0) lane.worker.ref();
    else lane.worker.unref();
  }

  /** Decodes a batch on the least busy worker. */
  async run(req: BatchRequest): Promise<DecodedBatch> {
    if (this.closed) throw new RuntimeError("DecodePool is closed");
    const live = this.lanes.filter((l) => !l.dead);
    if (live.length === 0) throw this.lanes[0]!.dead!;
    const lane = live.reduce((a, b) => (b.busy < a.busy ? b : a));
    lane.busy++;
    this.refState(lane);
    try {
      await lane.ready;
    } catch (e) {
      lane.busy--;
      throw e;
    }
    if (lane.dead) {
      lane.busy--;
      throw lane.dead;
    }
    const id = this.nextId++;
    return new Promise<DecodedBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, lane });
      lane.worker.postMessage({ id, req } satisfies WorkerTask);
    });
  }

  /** Waits until every worker has started (otherwise the first batches pay the start-up). */
  async ready(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.ready));
  }

  /** Terminates the workers; pending batches are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new RuntimeError("DecodePool closed while a batch was decoding"));
    }
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
  }
}
