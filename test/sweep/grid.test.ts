import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { canonicalJson, expandSweep, loadSweep, parseSweep, runIdOf, singleRun } from "../../src/sweep/grid.js";
import { tempDir } from "../helpers/images.js";

describe("sweep grid", () => {
  test("a YAML sweep expands to tasks x methods x ranks x seeds x lrs with absolute data paths", () => {
    const t = tempDir("snell-sweep-");
    try {
      const file = path.join(t.dir, "sweep.yaml");
      fs.writeFileSync(file, [
        "data-root: vtab",
        "recipes:",
        "  - vtab/cifar",
        "  - { name: mnist, data: data/mnist, train: { dataset-format: imagefolder } }",
        "methods: [snell, lora]",
        "ranks: [8, 32]",
        "seeds: [0, 1, 2]",
        "lrs: [0.001]",
        "train: { epochs: 3, batch-size: 4 }",
      ].join("\n"));
      const runs = expandSweep(loadSweep(file), t.dir);
      assert.equal(runs.length, 2 * 2 * 2 * 3);
      assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
      assert.equal(new Set(runs.map((r) => r.name)).size, runs.length);
      const cifar = runs.filter((r) => r.task === "cifar");
      assert.equal(cifar.length, 12);
      // data-root + the recipe's dataset folder, resolved from the sweep file's folder
      assert.equal(cifar[0]!.config.data, path.join(t.dir, "vtab", "cifar"));
      assert.equal(cifar[0]!.config.recipe, "vtab/cifar");
      assert.equal(cifar[0]!.config.batchSize, 4);
      const mnist = runs.find((r) => r.task === "mnist" && r.method === "lora" && r.rank === 32 && r.seed === 2)!;
      assert.equal(mnist.config.data, path.join(t.dir, "data", "mnist"));
      assert.equal(mnist.config.datasetFormat, "imagefolder");
      assert.equal(mnist.recipe, null);
      assert.equal(mnist.name, `mnist-lora-r32-lr0.001-seed2-${mnist.id.slice(0, 8)}`);
      // order: task, then method, rank, seed
      assert.deepEqual(cifar.slice(0, 4).map((r) => [r.method, r.rank, r.seed]), [["snell", 8, 0], ["snell", 8, 1], ["snell", 8, 2], ["snell", 32, 0]]);
    } finally {
      t.remove();
    }
  });

  test("the run id is sha256 of the sorted-key JSON of the train config, independent of key order", () => {
    const a = { lr: 0.001, data: "/d", peft: { b: 1, a: [2, { y: 1, x: 0 }] } };
    const b = { peft: { a: [2, { x: 0, y: 1 }], b: 1 }, data: "/d", lr: 0.001 };
    const text = '{"data":"/d","lr":0.001,"peft":{"a":[2,{"x":0,"y":1}],"b":1}}';
    assert.equal(canonicalJson(a), text);
    assert.equal(runIdOf(a), createHash("sha256").update(text).digest("hex").slice(0, 16));
    assert.equal(runIdOf(a), runIdOf(b));
    assert.notEqual(runIdOf(a), runIdOf({ ...a, lr: 0.002 }));
  });

  test("recipe values label runs the sweep does not vary; equal grid points are one run", () => {
    const s = parseSweep({ recipes: ["vtab/dtd", "vtab/dtd"], dataRoot: "/v", seeds: [1, 1] });
    const runs = expandSweep(s, "/");
    assert.equal(runs.length, 1);
    assert.deepEqual([runs[0]!.method, runs[0]!.rank, runs[0]!.lr, runs[0]!.seed], ["snell", 32, 0.001, 1]);
    assert.equal(runs[0]!.config.data, "/v/dtd");
  });

  test("a submitted run has the id of the same sweep run", () => {
    const fromSweep = expandSweep(parseSweep({ recipes: [{ data: "d" }], methods: ["lora"], train: { epochs: 2 } }), "/base")[0]!;
    const submitted = singleRun({ data: "d", method: "lora", epochs: 2 }, "/base");
    assert.equal(submitted.id, fromSweep.id);
    assert.equal(submitted.name, fromSweep.name);
  });

  test("bad sweeps are one-line ConfigErrors", () => {
    const bad: [object, RegExp][] = [
      [{}, /"recipes" must be a non-empty list/],
      [{ recipes: ["vtab/cifar"], colour: 1 }, /unknown key "colour"/],
      [{ recipes: ["vtab/nope"], dataRoot: "/v" }, /unknown recipe/],
      [{ recipes: ["vtab/cifar"] }, /no data folder; give it "data" or set "data-root"/],
      [{ recipes: [{ data: "d" }], seeds: [] }, /empty list/],
      [{ recipes: [{ data: "d" }], lrs: [-1] }, /lrs: every entry must be a positive number/],
      [{ recipes: [{ data: "d" }], train: { out: "x" } }, /cannot set "out"/],
      [{ recipes: [{ nam: "x" }] }, /unknown key "nam"/],
    ];
    for (const [doc, re] of bad) {
      assert.throws(() => expandSweep(parseSweep(doc as Record<string, unknown>), "/"), (e: Error) => e instanceof ConfigError && re.test(e.message) && !e.message.includes("\n"), JSON.stringify(doc));
    }
  });
});
