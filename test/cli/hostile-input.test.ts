/**
 * @file Issue #11, bad input as a hostile user types it: numeric options checked in one place before
 * any work (items 1 and 13), unknown keys in --arch, --peft and config files (item 9), file-system and
 * memory errors as one line (item 6), and the small cases of item 13. Every case runs the CLI in this
 * process and asserts the exit code, a single "snell: error:" line naming the culprit and no JS stack.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Command } from "commander";
import { EXIT, layeredConfig, type CliContext } from "../../src/cli/commands/context.js";
import { ConfigError } from "../../src/errors.js";
import { capWorkers, checkOptions, NUMERIC_OPTIONS } from "../../src/cli/option-rules.js";
import { recipeLayer } from "../../src/cli/commands/setup.js";
import { recipeNames } from "../../src/cli/recipes.js";
import { TRAINER_DEFAULTS } from "../../src/train/trainer.js";
import { MAPPED_ERRNOS } from "../../src/cli/error-map.js";
import { reportError } from "../../src/cli/main.js";
import { inProcess } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";

let tmp: ReturnType<typeof tempDir>;
let task: string;

/** Tiny model and data (as test/cli/cli.test.ts). */
const COMMON = ["--model", "vit_test", "--arch", "imgSize=16,depth=1", "--method", "snell", "--rank", "4", "--sparsity", "0.5",
  "--batch-size", "4", "--lr", "1e-2", "--warmup-epochs", "0", "--seed", "3", "--no-progress"];

/** Exit `code`, exactly one "snell: error:" line matching `re`, no stack, nothing else alarming. */
export function assertOneLine(r: { code: number; stderr: string }, re: RegExp, code: number = EXIT.usage): void {
  assert.equal(r.code, code, r.stderr);
  const err = r.stderr.split("\n").filter((l) => l.startsWith("snell: "));
  assert.equal(err.length, 1, r.stderr);
  assert.match(err[0]!, re);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack");
  assert.doesNotMatch(r.stderr, /internal error/);
}

before(async () => {
  tmp = tempDir("snell-hostile-");
  task = join(tmp.dir, "task");
  await writeVtabTask(task, { numClasses: 3, perClass: 2 });
});
after(() => tmp.remove());

describe("numeric options (item 1)", () => {
  test("predict --batch-size 0 fails at once naming the option (it used to spin forever)", async () => {
    const t0 = performance.now();
    assertOneLine(await inProcess(["predict", "--out", join(tmp.dir, "none"), "--batch-size", "0", "x.png"]), /^snell: error: --batch-size must be an integer >= 1 .*got 0$/);
    assert.ok(performance.now() - t0 < 5000);
  });

  test("a negative value names the option, not a tensor shape", async () => {
    assertOneLine(await inProcess(["predict", "--out", join(tmp.dir, "none"), "--batch-size", "-1", "x.png"]), /--batch-size must be an integer >= 1.*got -1$/);
  });

  test("every command's numeric flags go through the same rules", async () => {
    const cases: [string[], RegExp][] = [
      [["train", "--data", task, "--epochs", "0"], /--epochs must be an integer >= 1/],
      [["train", "--data", task, "--lr", "0"], /--lr must be a number > 0/],
      [["train", "--data", task, "--sparsity", "1"], /--sparsity must be a number >= 0 < 1/],
      [["train", "--data", task, "--seed", "-5"], /--seed must be an integer >= 0/],
      [["train", "--data", task, "--eval-every", "1.5"], /--eval-every must be an integer >= 0 or "authors", got 1\.5/],
      [["train", "--data", task, "--workers", "-2"], /--workers must be an integer >= 0/],
      [["train", "--data", task, "--num-classes", "0"], /--num-classes must be an integer >= 1/],
      [["eval", "--out", task, "--batch-size", "0"], /--batch-size must be/],
      [["predict", "--out", task, "--top-k", "0", "a.png"], /--top-k must be an integer >= 1/],
      [["export", "--out", task, "--output", "m.onnx", "--batch", "0"], /--batch must be an integer >= 1/],
      [["golden", "x.json", "--tol", "-1"], /--tol must be a number > 0/],
      [["demo", "--test-images", "0"], /--test-images must be an integer >= 1/],
    ];
    for (const [args, re] of cases) assertOneLine(await inProcess(args), re);
  });

  test("values from a config file are checked by the same rules and name the file; YAML .nan shows as NaN", async () => {
    const file = join(tmp.dir, "nan.yaml");
    fs.writeFileSync(file, "lr: .nan\n");
    assertOneLine(await inProcess(["train", "--data", task, "--config", file]), /--lr \(lr in .*nan\.yaml\) must be a number > 0, got NaN$/);
    fs.writeFileSync(file, "batch-size: 2.5\n");
    assertOneLine(await inProcess(["train", "--data", task, "--config", file]), /--batch-size \(batchSize in .*nan\.yaml\) must be an integer/);
  });

  test("the rules accept every recipe's and the trainer's default values, and refuse their neighbours", () => {
    for (const name of recipeNames()) {
      let layer;
      try {
        layer = recipeLayer(name);
      } catch (e) {
        if (e instanceof ConfigError) continue; // a recipe no method trains yet says so itself
        throw e;
      }
      assert.doesNotThrow(() => checkOptions(layer), name);
    }
    assert.doesNotThrow(() => checkOptions(Object.fromEntries(Object.entries(TRAINER_DEFAULTS).filter(([, v]) => v !== null))));
    for (const [key, rule] of Object.entries(NUMERIC_OPTIONS)) {
      const lo = rule.min ?? rule.above ?? 0;
      const good = rule.min !== undefined ? rule.min : lo + 0.5 * ((rule.below ?? lo + 1) - lo);
      assert.doesNotThrow(() => checkOptions({ [key]: rule.integer ? Math.ceil(good) : good }), key);
      assert.throws(() => checkOptions({ [key]: lo - 1 }), new RegExp(key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())));
      if (rule.integer) assert.throws(() => checkOptions({ [key]: lo + 1.5 }), /integer/);
      assert.throws(() => checkOptions({ [key]: Number.NaN }), /got NaN/);
    }
  });

  test("--workers from a config file is capped to the cores too", () => {
    const file = join(tmp.dir, "workers.yaml");
    fs.writeFileSync(file, "workers: 1000\n");
    const cmd = new Command("x").option("--workers <n>").option("--config <file>");
    cmd.parse(["--config", file], { from: "user" });
    assert.equal(layeredConfig(cmd).workers, Math.min(1000, availableParallelism()));
  });

  test("--workers above the cores is capped with a warning", () => {
    assert.deepEqual(capWorkers(3, 4), { workers: 3 });
    const c = capWorkers(64, 4);
    assert.equal(c.workers, 4);
    assert.match(c.warning!, /--workers 64 is more than the 4 cores; using 4/);
  });
});

describe("unknown keys (item 9)", () => {
  test("--arch deph=1 names the key and lists the valid ones", async () => {
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--arch", "deph=1", "--out", join(tmp.dir, "r9")]),
      /--arch: unknown key "deph"; expected one of imgSize, patchSize, .*depth/);
    assert.ok(!fs.existsSync(join(tmp.dir, "r9")), "nothing written");
  });

  test("--peft with an unknown field, and a config file with an unknown option, are errors", async () => {
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--peft", '{"rnak": 4}', "--out", join(tmp.dir, "r9b")]), /unknown field "rnak"/);
    const file = join(tmp.dir, "typo.yaml");
    fs.writeFileSync(file, "epochz: 3\n");
    assertOneLine(await inProcess(["train", "--data", task, "--config", file]), /unknown option in .*typo\.yaml "epochz"; expected one of/);
    fs.writeFileSync(file, "arch:\n  depht: 1\n");
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON.filter((a) => a !== "--arch" && a !== "imgSize=16,depth=1"), "--config", file, "--out", join(tmp.dir, "r9c")]),
      /--arch: unknown key "depht"/);
  });
});

describe("small cases (item 13)", () => {
  test('--out "" is an error', async () => {
    assertOneLine(await inProcess(["train", "--data", task, ...COMMON, "--out", ""]), /--out must name a path, got an empty string/);
    assertOneLine(await inProcess(["eval", "--out", ""]), /--out must name a path/);
  });
});

describe("the error mapper (item 6)", () => {
  const report = (e: unknown) => {
    let err = "";
    const code = reportError(e, { stderr: { write: (t: string) => (err += t) } } as unknown as CliContext);
    return { code, err };
  };

  test("every mapped errno is one line naming the path and the code; a full disk is a failure (1), the rest bad input (2)", () => {
    for (const code of MAPPED_ERRNOS) {
      const r = report(Object.assign(new Error(`${code}: something, open '/runs/x'`), { code, syscall: "open", path: "/runs/x" }));
      assert.equal(r.code, code === "ENOSPC" || code === "EDQUOT" ? EXIT.failure : EXIT.usage, code);
      assert.match(r.err, new RegExp(`^snell: error: /runs/x: .+ \\(${code} in open\\)\\n$`), code);
    }
  });

  test("allocation failures are one line; an unmapped error still shows its stack", () => {
    const r = report(new RangeError("Array buffer allocation failed"));
    assert.equal(r.code, EXIT.failure);
    assert.match(r.err, /^snell: error: out of memory \(Array buffer allocation failed\); use a smaller model, batch size or image size\n$/);
    const bug = report(new TypeError("x is not a function"));
    assert.match(bug.err, /internal error: TypeError: x is not a function\n\s+at /);
  });
});
