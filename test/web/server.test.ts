/**
 * `snell web`'s server: loopback by default, a free port, cross-origin isolation headers on every
 * response (404s included), the files the page loads, the digits blob equal to the demo's task, and a
 * clean stop (library close and the CLI's SIGTERM).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { downstreamTask } from "../../src/demo/mnist-tasks.js";
import { ConfigError } from "../../src/errors.js";
import { decodeDigits } from "../../src/web/digits-format.js";
import { startWebServer, WEB_HEADERS, type WebServer } from "../../src/web/server.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function assertIsolated(res: Response, what: string): void {
  for (const [k, v] of Object.entries(WEB_HEADERS)) assert.equal(res.headers.get(k), v, `${what}: header ${k}`);
  assert.equal(res.headers.get("cross-origin-opener-policy"), "same-origin");
  assert.equal(res.headers.get("cross-origin-embedder-policy"), "require-corp");
}

describe("snell web server", () => {
  let s: WebServer;
  before(async () => {
    s = await startWebServer({ port: 0 });
  });
  after(async () => {
    await s?.close();
  });

  test("listens on 127.0.0.1 on a free port and prints that URL", () => {
    assert.equal(s.host, "127.0.0.1");
    assert.ok(s.port > 0);
    assert.equal(s.url, `http://127.0.0.1:${s.port}/`);
  });

  test("serves the page, its bundle and onnxruntime-web's wasm with isolation headers and types", async () => {
    const cases: [string, string, number][] = [
      ["", "text/html", 500], ["app.js", "text/javascript", 100_000],
      ["ort/ort-wasm-simd-threaded.jsep.wasm", "application/wasm", 1_000_000], ["ort/ort-wasm-simd-threaded.jsep.mjs", "text/javascript", 1000],
      ["demo/backbone.safetensors", "application/octet-stream", 100_000],
    ];
    for (const [p, type, min] of cases) {
      const res = await fetch(s.url + p);
      assert.equal(res.status, 200, p);
      assertIsolated(res, p);
      assert.ok(res.headers.get("content-type")!.startsWith(type), `${p}: ${res.headers.get("content-type")}`);
      assert.ok((await res.arrayBuffer()).byteLength > min, p);
    }
    const shipped = fs.readFileSync(path.join(REPO, "demo/pretrained-vit-mnist04.safetensors"));
    assert.deepEqual(new Uint8Array(await (await fetch(s.url + "demo/backbone.safetensors")).arrayBuffer()), new Uint8Array(shipped));
  });

  test("404 for unknown paths, other ORT files and traversal; 405 for POST; headers on errors too", async () => {
    for (const p of ["nope", "ort/ort.min.mjs", "ort/..%2Fpackage.json", "..%2F..%2Fpackage.json", "demo/", "ort/"]) {
      const res = await fetch(s.url + p);
      assert.equal(res.status, 404, p);
      assertIsolated(res, p);
    }
    const post = await fetch(s.url, { method: "POST" });
    assert.equal(post.status, 405);
    assertIsolated(post, "POST");
  });

  test("the digits blob decodes to the demo's downstream task: its 1,000 training and first 500 test images", async () => {
    const res = await fetch(s.url + "data/digits.bin");
    assertIsolated(res, "digits");
    const d = decodeDigits(new Uint8Array(await res.arrayBuffer()), 0.1307, 0.3081);
    const ref = downstreamTask(500);
    assert.equal(d.train.count, 1000);
    assert.equal(d.test.count, 500);
    assert.deepEqual(d.train.images, ref.train.images);
    assert.deepEqual(d.train.labels, ref.train.labels);
    assert.deepEqual(d.test.images, ref.test.images);
    assert.deepEqual(d.test.labels, ref.test.labels);
  });
});

test("a non-loopback host is refused unless allowRemote; a bad port is refused", async () => {
  await assert.rejects(startWebServer({ host: "0.0.0.0" }), (e: Error) => e instanceof ConfigError && /--allow-remote/.test(e.message));
  await assert.rejects(startWebServer({ port: 70000 }), ConfigError);
  const s = await startWebServer({ port: 0 });
  await assert.rejects(startWebServer({ port: s.port }), (e: Error) => e instanceof ConfigError && /in use/.test(e.message));
  await s.close();
});

test("close() stops the server: the port refuses connections", async () => {
  const s = await startWebServer({ port: 0 });
  assert.equal((await fetch(s.url)).status, 200);
  await s.close();
  await assert.rejects(fetch(s.url));
});

test("`snell web --port 0` prints its URL, serves, and stops cleanly on SIGTERM (exit 0)", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO, "src/cli/main.ts"), "web", "--port", "0"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  child.stderr.on("data", (b) => (err += b));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (b) => {
      out += b;
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} before listening: ${out}${err}`)));
  });
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assertIsolated(res, "cli");
  const code = await new Promise<number | null>((resolve) => {
    child.on("exit", resolve);
    child.kill("SIGTERM");
  });
  assert.equal(code, 0, err);
  assert.match(err, /SIGTERM, stopped/);
  await assert.rejects(fetch(url));
});
