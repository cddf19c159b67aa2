/**
 * @file The bar chart's PNG: bar heights proportional to their values from a zero baseline (measured in
 * the decoded pixels), error bars drawn, a missing value marked "n/a", inconsistent input refused.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import sharp from "sharp";
import { renderBarChartPng, renderBarChartSvg } from "../../src/plot/bar-chart.js";
import { PALETTE } from "../../src/plot/svg.js";
import { ConfigError } from "../../src/errors.js";

/** Tallest run of pixels of `hex` in any one column of the image. */
async function tallest(png: Buffer, hex: string): Promise<number> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgb = [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16));
  let best = 0;
  for (let x = 0; x < info.width; x++) {
    let n = 0;
    for (let y = 0; y < info.height; y++) {
      const i = (y * info.width + x) * 3;
      if (rgb.every((v, c) => Math.abs(data[i + c]! - v) <= 2)) n++;
    }
    best = Math.max(best, n);
  }
  return best;
}

describe("bar chart", () => {
  test("bar lengths are proportional to the values (50 vs 100 on a 0..100 axis)", async () => {
    const png = await renderBarChartPng({ title: "t", yLabel: "%", series: ["a", "b"], groups: [{ label: "g", values: [50, 100] }] });
    const [a, b] = [await tallest(png, PALETTE[0]!), await tallest(png, PALETTE[1]!)];
    assert.ok(Math.abs(a / b - 0.5) < 0.02, `heights ${a} and ${b}`);
    assert.ok(b > 250, `the 100 bar spans the plot (300 px): ${b}`);
  });

  test("error bars, and n/a in place of a missing value", () => {
    const svg = renderBarChartSvg({ title: "t", yLabel: "%", series: ["a", "b"], groups: [{ label: "g", values: [50, null], errors: [2, null] }] });
    assert.equal((svg.match(/<path d="M/g) ?? []).length, 1);
    assert.match(svg, />n\/a</);
  });

  test("a group with the wrong number of values is a ConfigError", () => {
    assert.throws(() => renderBarChartSvg({ title: "t", yLabel: "%", series: ["a", "b"], groups: [{ label: "g", values: [1] }] }), ConfigError);
  });
});
