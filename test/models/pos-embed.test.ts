/** @file Position-embedding resampling matches torch's F.interpolate (fixture from scripts/torch/make_vit_fixture.py). */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { resamplePosEmbed, resizeGrid } from "../../src/models/pos-embed.js";

interface Case {
  size: [number, number]; newSize: [number, number]; channels: number;
  interpolation: "bicubic" | "bilinear"; antialias: boolean; input: number[]; output: number[];
}
const fixture = JSON.parse(readFileSync(new URL("../fixtures/vit/pos_embed.json", import.meta.url), "utf8")) as { cases: Case[] };

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("resizeGrid against torch F.interpolate(align_corners=False)", () => {
  for (const c of fixture.cases) {
    const title = `${c.interpolation}${c.antialias ? " antialias" : ""} ${c.size.join("x")} -> ${c.newSize.join("x")} agrees within 1e-5`;
    test(title, () => {
      const out = resizeGrid(Float32Array.from(c.input), c.size, c.channels, c.newSize, c);
      const d = maxDiff(out, c.output);
      assert.ok(d < 1e-5, `max |ours - torch| = ${d}`);
    });
  }
});

describe("resamplePosEmbed", () => {
  const c = fixture.cases.find((k) => k.interpolation === "bicubic" && k.antialias && k.size[0] === 3 && k.newSize[0] === 5)!;
  const cls = [0.25, -0.5];
  const pe = Float32Array.from([...cls, ...c.input]);

  test("keeps the cls row and resizes the grid rows like timm's resample_abs_pos_embed", () => {
    const out = resamplePosEmbed(pe, 2, [3, 3], [5, 5], { interpolation: "bicubic", antialias: true });
    assert.equal(out.length, (1 + 25) * 2);
    assert.deepEqual(Array.from(out.subarray(0, 2)), cls);
    assert.ok(maxDiff(out.subarray(2), c.output) < 1e-5);
  });

  test("returns the input unchanged when the grid size is the same", () => {
    assert.equal(resamplePosEmbed(pe, 2, [3, 3], [3, 3]), pe);
  });

  test("rejects a table whose length does not fit the grid", () => {
    assert.throws(() => resamplePosEmbed(pe, 2, [4, 4], [5, 5]), /resamplePosEmbed: 20 values, expected \(1 \+ 4x4\) x 2 = 34/);
  });
});
