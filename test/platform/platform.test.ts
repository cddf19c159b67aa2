/**
 * @file The two platforms (src/platform): the TypeScript sha256 browsers use gives node:crypto's digests
 * (adapter fingerprints and safetensors checksums must not depend on the host), and the browser
 * platform refuses files with a ConfigError instead of failing somewhere inside.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { platform as nodePlatform } from "../../src/platform/node.js";
import { sha256Hex } from "../../src/platform/sha256.js";
import { platform as webPlatform } from "../../src/platform/web.js";
import { Rng } from "../../src/random.js";

const text = (s: string) => new TextEncoder().encode(s);

describe("sha256Hex (TypeScript)", () => {
  test("matches FIPS 180-2's test vectors", () => {
    assert.equal(sha256Hex(text("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert.equal(sha256Hex(text("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert.equal(sha256Hex(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assert.equal(sha256Hex(new Uint8Array(1_000_000).fill(0x61)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  });

  test("matches node:crypto on every length across the padding boundaries and on unaligned views", () => {
    const rng = new Rng(3);
    const buf = new Uint8Array(300).map(() => Math.floor(rng.uniform() * 256));
    for (let n = 0; n <= 200; n++) {
      const v = buf.subarray(n % 7, (n % 7) + n);
      assert.equal(sha256Hex(v), createHash("sha256").update(v).digest("hex"), `length ${n}`);
    }
  });
});

describe("the browser platform", () => {
  test("hashes as the Node platform does", () => {
    const b = text("blocks.0.attn.qkv.weight:2304x768");
    assert.equal(webPlatform.sha256Hex(b), nodePlatform.sha256Hex(b));
  });

  test("refuses files with one ConfigError naming the byte-level functions", () => {
    for (const f of [() => webPlatform.readFile("a.json"), () => webPlatform.writeFileAtomic("m.onnx", "x"),
      () => webPlatform.writeFolderAtomic("adapter", {}), () => webPlatform.openFileSink("m.onnx.data")]) {
      assert.throws(f, (e: unknown) => e instanceof ConfigError && /needs a file system.*encodeAdapter/.test((e as Error).message));
    }
  });

  test("joins paths with slashes and reports no memory figures", () => {
    assert.equal(webPlatform.joinPath("runs/x/", "adapter", "adapter_config.json"), "runs/x/adapter/adapter_config.json");
    assert.equal(webPlatform.basename("runs/x/model.onnx"), "model.onnx");
    assert.equal(webPlatform.totalMemoryBytes(), null);
    assert.ok(Number.isNaN(webPlatform.peakRssMiB()));
    assert.ok(webPlatform.availableParallelism() >= 1);
  });
});
