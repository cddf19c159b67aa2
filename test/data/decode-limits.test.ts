/**
 * @file Issue #11 item 11: decode cost is bounded. A PNG header claiming 16000x16000 pixels (a few
 * hundred bytes here, 0.7 MB in the report) is refused from its header before anything is decoded;
 * a 20-megapixel image is shrunk while it decodes; small images decode exactly as before.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { deflateSync, crc32 } from "node:zlib";
import { after, before, test } from "node:test";
import sharp from "sharp";
import { decodeRgb } from "../../src/data/decode.js";
import { MAX_IMAGE_PIXELS, SHRINK_TO_SIDE } from "../../src/data/decode-limits.js";
import { tempDir, writePng } from "../helpers/images.js";

let tmp: ReturnType<typeof tempDir>;
before(() => (tmp = tempDir("snell-decode-limits-")));
after(() => tmp.remove());

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid PNG header for width x height RGB with one compressed row of data: tiny file, huge claim. */
function hugePng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.alloc(1 + 3 * width);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(row)), chunk("IEND", Buffer.alloc(0))]);
}

test("a small file claiming 16000x16000 pixels is refused from its header, quickly and without the memory", async () => {
  const file = join(tmp.dir, "huge.png");
  fs.writeFileSync(file, hugePng(16000, 16000));
  assert.ok(fs.statSync(file).size < 100_000);
  assert.ok(16000 * 16000 > MAX_IMAGE_PIXELS);
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  await assert.rejects(decodeRgb(file, "list.txt:7"), /^FormatError: list\.txt:7: unreadable image .*huge\.png \(image is 16000x16000 = 256 megapixels, above the limit of 67 megapixels\)/);
  assert.ok(performance.now() - t0 < 2000, "no full decode");
  assert.ok(process.memoryUsage().rss - rss0 < 256 * 2 ** 20, "no 768 MB pixel buffer");
});

test("an image above the shrink threshold decodes shrunk to the documented side; a small one is untouched", async () => {
  const big = join(tmp.dir, "big.png");
  await sharp({ create: { width: 5000, height: 4000, channels: 3, background: { r: 200, g: 30, b: 60 } } }).png().toFile(big);
  const img = await decodeRgb(big);
  assert.deepEqual([img.width, img.height], [SHRINK_TO_SIDE, Math.round(4000 * SHRINK_TO_SIDE / 5000)]);
  assert.deepEqual([...img.data.subarray(0, 3)], [200, 30, 60]);
  const small = join(tmp.dir, "small.png");
  await writePng(small, 7, 5, 3, (x, y, c) => x * 30 + y * 7 + c);
  const s = await decodeRgb(small);
  assert.deepEqual([s.width, s.height], [7, 5]);
  assert.equal(s.data[3 * (2 * 7 + 3) + 1], 3 * 30 + 2 * 7 + 1);
});
