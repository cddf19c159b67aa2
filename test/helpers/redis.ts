/** @file A throwaway redis-server for the queue tests: 127.0.0.1, a free port, append-only persistence in a temp folder. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as net from "node:net";

/** Why the queue tests cannot run here, or null when redis-server is installed. */
export function redisMissing(): string | null {
  const r = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  return r.error ? "redis-server not found; install it with scripts/install-redis.sh (as root: apt-get install -y redis-server)" : null;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** A running server; restart() stops it (SIGTERM: Redis writes its append-only file) and starts it on the same port and data. */
export interface TestRedis {
  url: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function start(port: number, dir: string): Promise<ChildProcess> {
  const p = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--dir", dir], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    p.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("Ready to accept connections")) resolve(p);
    });
    p.on("exit", (code) => reject(new Error(`redis-server exited (${code}): ${out.slice(-500)}`)));
  });
}

function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once("exit", () => resolve());
    p.kill("SIGTERM");
  });
}

export async function startRedis(dir: string): Promise<TestRedis> {
  const port = await freePort();
  let p = await start(port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart() {
      await stopProcess(p);
      p = await start(port, dir);
    },
    stop: () => stopProcess(p),
  };
}
