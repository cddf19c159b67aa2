/** @file Training-curve plot: nice ticks, SVG structure, and a PNG that decodes at the right size with each series drawn. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import sharp from "sharp";
import { ConfigError } from "../../src/errors.js";
import { formatTick, niceTicks } from "../../src/plot/ticks.js";
import { type CurveSeries, PALETTE, renderTrainingCurvesSvg, writeTrainingCurvesPng } from "../../src/plot/training-curves.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "snell-plot-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const epochs = Array.from({ length: 20 }, (_, i) => i + 1);
const series: CurveSeries[] = [
  { method: "linear probe", epochs, loss: epochs.map((e) => 1.5 / e + 0.5), accuracy: epochs.map((e) => (e % 5 ? null : 40 + e)) },
  { method: "SNELL-8", epochs, loss: epochs.map((e) => 2 / e + 0.1), accuracy: epochs.map((e) => (e % 5 ? null : 70 + e)) },
  { method: "full <ft> & co", epochs, loss: epochs.map((e) => 2.2 / e), accuracy: epochs.map((e) => (e % 5 ? null : 75 + e)) },
];

describe("ticks", () => {
  test("nice ticks cover the data with 1-2-5 steps", () => {
    assert.deepEqual(niceTicks(0.13, 2.2, 5), [0, 0.5, 1, 1.5, 2, 2.5]);
    assert.deepEqual(niceTicks(1, 20, 6), [0, 5, 10, 15, 20]);
    assert.deepEqual(niceTicks(41, 95, 5), [40, 60, 80, 100]); // step 54/5 = 10.8 rounds up to 20
    assert.deepEqual(niceTicks(3, 3, 5), [2.6, 2.8, 3, 3.2, 3.4]);
    const t = niceTicks(0.1, 0.3, 4);
    assert.deepEqual(t.map((v) => formatTick(v, t)), ["0.10", "0.15", "0.20", "0.25", "0.30"]);
  });
});

describe("training curves", () => {
  test("SVG has two panels, a legend entry per method (escaped) and one path per series and panel", () => {
    const svg = renderTrainingCurvesSvg(series, { title: "demo" });
    assert.equal((svg.match(/<path /g) ?? []).length, 6);
    assert.ok(svg.includes("Training loss") && svg.includes("Test accuracy (top-1)"));
    assert.ok(svg.includes("full &lt;ft&gt; &amp; co"));
    assert.ok(!svg.includes("<ft>"));
  });
  test("the PNG decodes at the requested size, is not blank, and shows every series colour", async () => {
    const f = path.join(dir, "curves.png");
    await writeTrainingCurvesPng(f, series, { width: 900, height: 400 });
    const img = sharp(fs.readFileSync(f));
    const meta = await img.metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["png", 900, 400]);
    const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let dark = 0;
    const seen = new Set<string>();
    const targets = PALETTE.slice(0, series.length).map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
    for (let p = 0; p < info.width * info.height; p++) {
      const [r, g, b] = [data[3 * p], data[3 * p + 1], data[3 * p + 2]];
      if (r + g + b < 200) dark++;
      targets.forEach((t, i) => { if (Math.abs(r - t[0]) + Math.abs(g - t[1]) + Math.abs(b - t[2]) < 12) seen.add(series[i].method); });
    }
    assert.ok(dark > 2000, `only ${dark} dark pixels (axes and text missing?)`);
    assert.deepEqual([...seen].sort(), series.map((s) => s.method).sort());
  });
  test("mismatched lengths and empty input are ConfigErrors naming the series", () => {
    assert.throws(() => renderTrainingCurvesSvg([{ ...series[0], loss: [1] }]), (e: unknown) => e instanceof ConfigError && /"linear probe" has 20 epochs but 1 loss/.test(e.message));
    assert.throws(() => renderTrainingCurvesSvg([]), ConfigError);
  });
});
