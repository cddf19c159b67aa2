/**
 * @file The demo: the shipped checkpoint is the digits 0-4 model it claims to be, `snell demo` runs a
 * shortened comparison end to end (table, plot), and bad demo options fail as user errors.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readSafetensors } from "../../src/checkpoint/safetensors.js";
import { EXIT } from "../../src/cli/commands/context.js";
import { DEMO_VIT, upstreamTask } from "../../src/demo/mnist-tasks.js";
import { DEMO_WEIGHTS } from "../../src/demo/run.js";
import { GraphBuilder } from "../../src/ir/builder.js";
import { ParamBinder } from "../../src/ir/parameters.js";
import { loadPretrained } from "../../src/models/load.js";
import { backboneOf } from "../../src/models/registry.js";
import { Rng } from "../../src/random.js";
import { CompiledGraph } from "../../src/runtime/compiled.js";
import { inProcess } from "../helpers/cli.js";
import { tempDir } from "../helpers/images.js";

const tmp = tempDir();
after(() => tmp.remove());

describe("demo", () => {
  test("the shipped pre-trained ViT classifies MNIST digits 0-4 (test split) above 95%", async () => {
    const params = backboneOf(DEMO_VIT).createParams(DEMO_VIT, new Rng(0));
    loadPretrained(params, readSafetensors(DEMO_WEIGHTS), { strict: true });
    const batch = 500;
    const g = new GraphBuilder();
    const x = g.input("images", [batch, 1, 28, 28]);
    g.output(backboneOf(DEMO_VIT).forward(g, new ParamBinder(g, params), DEMO_VIT, x), "logits");
    const c = await CompiledGraph.compile(g, { intraOpThreads: 1 });
    const { test: set } = upstreamTask();
    let correct = 0, seen = 0;
    for (let from = 0; from + batch <= 2000; from += batch) {
      const images = set.images.subarray(from * 784, (from + batch) * 784);
      const logits = (await c.run({ images })).logits!.data as Float32Array;
      for (let k = 0; k < batch; k++) {
        const row = Array.from(logits.subarray(k * 5, k * 5 + 5));
        if (BigInt(row.indexOf(Math.max(...row))) === set.labels[from + k]) correct++;
      }
      seen += batch;
    }
    await c.release();
    const top1 = (100 * correct) / seen;
    console.log(`# shipped demo ViT: ${top1.toFixed(2)}% on ${seen} digits 0-4 test images`);
    assert.ok(top1 > 95, `top-1 ${top1}%`);
  });

  test("`snell demo` runs the comparison in child processes, prints the table and writes the PNG", async () => {
    const out = join(tmp.dir, "demo-out");
    const r = await inProcess(["demo", "--epochs", "2", "--methods", "linear probe,SNELL-8", "--test-images", "300", "--out", out]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    const rows = r.stdout.split("\n").filter((l) => /^(linear probe|SNELL-8) /.test(l));
    assert.equal(rows.length, 2, r.stdout);
    for (const row of rows) {
      const [last] = row.match(/\d+\.\d+%/g)!;
      // Two epochs already lift both well above chance (20%) on five classes.
      assert.ok(Number.parseFloat(last!) > 40, row);
    }
    assert.match(r.stdout, /37,253 \(15\.\d\d%\)/, "SNELL-8 trains the same count as LoRA-8 would: factors, head, cls_token");
    assert.match(r.stderr, /SNELL-8 epoch 2\/2: loss \d/);
    const png = readFileSync(join(out, "training-curves.png"));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.ok(r.stdout.includes(join(out, "training-curves.png")));
  });

  test("an unknown method or a zero epoch count is a user error naming it", async () => {
    const bad = await inProcess(["demo", "--methods", "LoRA-9"]);
    assert.equal(bad.code, EXIT.usage);
    assert.match(bad.stderr, /unknown method "LoRA-9"; expected one of linear probe, LoRA-8, SNELL-8, full fine-tuning/);
    const zero = await inProcess(["demo", "--epochs", "0"]);
    assert.equal(zero.code, EXIT.usage);
    assert.match(zero.stderr, /--epochs must be an integer >= 1/);
  });
});
