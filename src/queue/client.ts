/** @file A short-lived queue handle for `snell submit`, `snell sweep --queue` and `snell status`: fails in seconds, in one line, when Redis is not there. */
import { Queue } from "bullmq";
import { RuntimeError } from "../errors.js";
import { describeQueue, QUEUE_NAME, type RedisTarget } from "./connection.js";
import type { RunJobData } from "./job.js";

/** Opens the queue, runs `body`, closes it. An unreachable Redis is a RuntimeError naming the URL. */
export async function withQueue<T>(target: RedisTarget, body: (q: Queue<RunJobData>) => Promise<T>): Promise<T> {
  // Unlike a worker, a command should not wait forever for Redis: a few reconnects, then give up.
  const connection = { ...target, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n: number) => (n > 3 ? null : 250) };
  const queue = new Queue<RunJobData>(QUEUE_NAME, { connection });
  let error: Error | null = null;
  queue.on("error", (e) => (error ??= e));
  try {
    await queue.waitUntilReady();
    return await body(queue);
  } catch (e) {
    const cause = error ?? (e as Error);
    if (/ECONNREFUSED|ENOTFOUND|Connection is closed|connect ETIMEDOUT|Stream isn't writeable/.test(cause.message)) {
      throw new RuntimeError(`cannot reach Redis at ${describeQueue(target)} (${cause.message.split("\n")[0]}); is redis-server running there?`, { cause });
    }
    throw e;
  } finally {
    await queue.close().catch(() => undefined);
  }
}
