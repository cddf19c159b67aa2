/**
 * @file Issue #11's fuzz test: `snell train / eval / predict` with seeded random option values and
 * broken data folders, run in this process (no tsx start-up per case), bounded in cases and time.
 * For every case: the exit code is 0, 1, 2, 130 or 143; a failure prints exactly one "snell:" line
 * and never a JS stack or "internal error"; an existing run folder is byte-identical afterwards unless
 * the command was a train into it that succeeded. A failing case prints its seed and arguments.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Rng } from "../../src/random.js";
import { inProcess } from "../helpers/cli.js";
import { tempDir, writeVtabTask } from "../helpers/images.js";
import { snapshot } from "../helpers/snapshot.js";

const SEED = 11;
const CASES = 300;
/** Wall-clock budget for all cases; the loop stops early (and says so) rather than run past it. */
const BUDGET_MS = 45_000;
/** One case may not take longer than this: a hang (issue #11 item 1) fails instead of stalling. */
const CASE_MS = 15_000;

let tmp: ReturnType<typeof tempDir>;
let run: string;
const folders: Record<string, string> = {};
const images: Record<string, string> = {};

const MODEL = ["--model", "vit_test", "--arch", "imgSize=16,depth=1", "--method", "snell", "--rank", "2", "--batch-size", "4",
  "--warmup-epochs", "0", "--epochs", "1", "--eval-every", "0", "--no-progress"];

/** Broken variants of a good VTAB task, each one thing wrong. */
function makeBrokenFolders(task: string): void {
  const variant = (name: string, edit: (dir: string, lines: string[]) => string[] | void) => {
    const dir = join(tmp.dir, name);
    fs.cpSync(task, dir, { recursive: true });
    const file = join(dir, "train800val200.txt");
    const lines = fs.readFileSync(file, "utf8").trim().split("\n");
    const changed = edit(dir, lines);
    if (changed) fs.writeFileSync(file, changed.join("\n") + "\n");
    folders[name] = dir;
  };
  folders.good = task;
  folders.missing = join(tmp.dir, "no-such-folder");
  folders.file = join(tmp.dir, "plain-file");
  fs.writeFileSync(folders.file, "not a folder");
  folders.empty = join(tmp.dir, "empty-folder");
  fs.mkdirSync(folders.empty);
  variant("malformed", (_d, l) => [l[0]!, "just-a-path-no-label", ...l.slice(1)]);
  variant("hugelabel", (_d, l) => [l[0]!.replace(/\d+$/, "1000000"), ...l.slice(1)]);
  variant("negative", (_d, l) => [l[0]!.replace(/\d+$/, "-1"), ...l.slice(1)]);
  variant("missingimg", (_d, l) => ["images/none.png 0", ...l]);
  variant("corrupt", (d, l) => void fs.writeFileSync(join(d, l[0]!.split(" ")[0]!), "garbage"));
  variant("escape", (_d, l) => ["../good/" + l[0]!, ...l.slice(1)]);
  variant("emptylist", () => [""]);
  variant("nolist", (d) => void fs.rmSync(join(d, "test.txt")));
}

before(async () => {
  tmp = tempDir("snell-fuzz-");
  const task = join(tmp.dir, "good");
  await writeVtabTask(task, { numClasses: 3, perClass: 2 });
  makeBrokenFolders(task);
  run = join(tmp.dir, "trained");
  const r = await inProcess(["train", "--data", task, ...MODEL, "--seed", "1", "--out", run]);
  assert.equal(r.code, 0, r.stderr);
  images.good = join(task, fs.readFileSync(join(task, "test.txt"), "utf8").split(" ")[0]!);
  images.missing = join(tmp.dir, "none.png");
  images.corrupt = join(tmp.dir, "corrupt.png");
  fs.writeFileSync(images.corrupt, "\x89PNG garbage");
  images.folder = tmp.dir;
});
after(() => tmp.remove());

/** Values a hostile user types for a numeric option. */
const NUMBERS = ["0", "-1", "1", "2", "1.5", "1e9", "NaN", "abc", "", "0x10", "3", "99999999999999999999"];
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

/** Random flags for `cmd`: a few options from its list, each with a hostile or ordinary value. */
function randomFlags(rng: Rng, cmd: "train" | "eval" | "predict"): string[] {
  const numeric: Record<typeof cmd, string[]> = {
    train: ["--epochs", "--batch-size", "--lr", "--rank", "--sparsity", "--seed", "--workers", "--prefetch", "--eval-every",
      "--num-classes", "--threads", "--label-smoothing", "--warmup-epochs", "--eval-batch-size", "--clip-grad"],
    eval: ["--batch-size", "--workers", "--threads"],
    predict: ["--batch-size", "--top-k", "--threads"],
  };
  const out: string[] = [];
  for (let n = rng.int(3); n > 0; n--) {
    const flag = pick(rng, numeric[cmd]);
    // Keep successful trains short: large epoch counts would only measure training speed.
    // Half the values are ordinary, so that cases get past option checking into the data and the run.
    const value = rng.uniform() < 0.5 ? pick(rng, ["1", "2"]) : flag === "--epochs" ? pick(rng, ["0", "-1", "x", ""]) : pick(rng, NUMBERS);
    out.push(flag, value);
  }
  if (cmd === "train") {
    if (rng.uniform() < 0.2) out.push("--arch", pick(rng, ["deph=1", "embedDim=100000,numHeads=1", "imgSize=15", "depth=0", "patchSize=0", "imgSize=16,depth=1"]));
    if (rng.uniform() < 0.15) out.push("--peft", pick(rng, ['{"rnak": 2}', "[1]", "{", '{"rank": -3}', "{}"]));
    if (rng.uniform() < 0.1) out.push("--method", pick(rng, ["lora", "bogus", "bitfit"]));
  }
  return out;
}

interface Case {
  args: string[];
  /** A run folder that must stay byte-identical unless the case is a successful train into it. */
  guarded: string | null;
  trainsInto: boolean;
}

function randomCase(rng: Rng, i: number): Case {
  const cmd = pick(rng, ["train", "train", "eval", "predict"] as const);
  const data = rng.uniform() < 0.4 ? folders.good! : folders[pick(rng, Object.keys(folders))]!;
  const copy = join(tmp.dir, `case-${i}`);
  const outKind = pick(rng, ["fresh", "fresh", "fresh", "existing", "existing", "file", "empty", "underfile"]);
  let out: string;
  let guarded: string | null = null;
  if (outKind === "existing") {
    fs.cpSync(run, copy, { recursive: true });
    out = guarded = copy;
  } else if (outKind === "file") out = folders.file!;
  else if (outKind === "empty") out = "";
  else if (outKind === "underfile") out = join(folders.file!, "sub");
  else out = copy;
  const flags = randomFlags(rng, cmd);
  if (cmd === "train") {
    const resume = rng.uniform() < 0.25 ? ["--resume"] : [];
    const overwrite = rng.uniform() < 0.25 ? ["--overwrite"] : [];
    return { args: ["train", "--data", data, ...MODEL, ...flags, ...resume, ...overwrite, "--out", out], guarded, trainsInto: true };
  }
  if (cmd === "eval") {
    const extra = rng.uniform() < 0.5 ? ["--data", data] : [];
    const preds = rng.uniform() < 0.3 ? ["--predictions", pick(rng, [join(tmp.dir, `p${i}.jsonl`), join(tmp.dir, "none", "p.jsonl"), tmp.dir])] : [];
    return { args: ["eval", "--out", outKind === "fresh" ? run : out, ...extra, ...flags, ...preds], guarded, trainsInto: false };
  }
  const imgs = Array.from({ length: 1 + rng.int(2) }, () => images[pick(rng, Object.keys(images))]!);
  return { args: ["predict", "--out", outKind === "fresh" ? run : out, ...flags, ...imgs], guarded, trainsInto: false };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stop = new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no exit after ${ms} ms (hang?)`)), ms)));
  try {
    return await Promise.race([p, stop]);
  } finally {
    clearTimeout(timer);
  }
}

test(`${CASES} seeded random train/eval/predict cases: allowed exit codes, one line, run folders intact`, async (t) => {
  const rng = new Rng(SEED);
  const t0 = performance.now();
  const codes = new Map<number, number>();
  let done = 0;
  for (let i = 0; i < CASES; i++) {
    if (performance.now() - t0 > BUDGET_MS) break;
    const c = randomCase(rng, i);
    const before = c.guarded ? snapshot(c.guarded) : null;
    const label = `case ${i} (seed ${SEED}): snell ${c.args.map((a) => JSON.stringify(a)).join(" ")}`;
    const r = await withTimeout(inProcess(c.args), CASE_MS, label);
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    assert.ok([0, 1, 2, 130, 143].includes(r.code), `${label}\nexit ${r.code}\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /^\s+at /m, `${label}: a stack\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /internal error/, `${label}\n${r.stderr}`);
    if (r.code !== 0) {
      const lines = r.stderr.split("\n").filter((l) => l.startsWith("snell: "));
      assert.equal(lines.length, 1, `${label}: expected one "snell:" line\n${r.stderr}`);
    }
    if (before && !(c.trainsInto && r.code === 0)) {
      assert.deepEqual(snapshot(c.guarded!), before, `${label}: the existing run folder changed (exit ${r.code})\n${r.stderr}`);
    }
    done++;
  }
  t.diagnostic(`${done} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s; exit codes ${JSON.stringify(Object.fromEntries(codes))}`);
  // Not vacuous: most cases ran, and both failures and successes occurred.
  assert.ok(done >= CASES / 2, `only ${done} of ${CASES} cases within ${BUDGET_MS} ms`);
  assert.ok((codes.get(2) ?? 0) > 0 && (codes.get(0) ?? 0) > 0, `exit codes seen: ${JSON.stringify([...codes])}`);
});
