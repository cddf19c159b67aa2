/** @file Every op with a gradient rule, checked against central finite differences (rows in op-rows.ts). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { gradCheck } from "../helpers/gradcheck.js";
import { ROWS } from "./op-rows.js";

describe("gradient rules match central finite differences", () => {
  for (const [title, f, inputs, opts] of ROWS) {
    test(title, async () => {
      const { maxError, checked } = await gradCheck(f, inputs, { dtype: opts?.dtype ?? "float64" });
      assert.ok(checked > 0, "no entries were checked");
      assert.ok(maxError < (opts?.tol ?? 1e-6), `max error ${maxError}`);
    });
  }
});
