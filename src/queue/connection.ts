/** @file `--queue redis://HOST:PORT[/db]`: the Redis connection and the BullMQ queue every snell worker, submit and status share. */
import { ConfigError } from "../errors.js";

/** The BullMQ queue name: one queue per Redis database (use /db to keep several apart). */
export const QUEUE_NAME = "snell-runs";

/** ioredis options BullMQ accepts. */
export interface RedisTarget {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** BullMQ's workers block on Redis; null makes commands wait across a Redis restart instead of failing. */
  maxRetriesPerRequest: null;
}

/** Parses `redis://[user:pass@]HOST[:PORT][/db]` into connection options; a bad URL is one ConfigError line. */
export function parseQueueUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`--queue must be a Redis URL like redis://HOST:PORT[/db], got "${url}"`);
  }
  if (u.protocol !== "redis:") throw new ConfigError(`--queue must be a redis:// URL, got "${url}"`);
  if (!u.hostname) throw new ConfigError(`--queue ${url}: no host`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, "");
  if (dbText !== "" && !/^\d+$/.test(dbText)) throw new ConfigError(`--queue ${url}: the path must be a database number, got "/${dbText}"`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""), port, db: dbText === "" ? 0 : Number(dbText),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    maxRetriesPerRequest: null,
  };
}

/** The URL without its password, for messages. */
export function describeQueue(t: RedisTarget): string {
  return `redis://${t.host}:${t.port}/${t.db}`;
}
