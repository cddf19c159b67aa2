/** @file Fabricated run folders (run.json in `snell train`'s layout, log.jsonl, adapter/) for the report tests. */
import * as fs from "node:fs";
import * as path from "node:path";

export interface FakeRun {
  recipe?: string;
  /** Data folder (its name is the task when there is no recipe). */
  data?: string;
  datasetFormat?: string;
  fgvcName?: string;
  method: string;
  rank?: number;
  lr?: number;
  seed: number;
  epochs?: number;
  /** Test top-1 per epoch; null: that epoch was not evaluated. */
  top1: (number | null)[];
  /** Model-EMA top-1 per epoch, when the run has one. */
  emaTop1?: (number | null)[];
  /** Writes adapter/ (the run finished). */
  finished: boolean;
  /** Writes a lock naming this pid and host. */
  lock?: { pid: number; host: string };
}

/** Writes `<root>/<name>/` as `snell train --out` leaves it; returns the folder. */
export function writeRun(root: string, name: string, r: FakeRun): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const data = r.data ?? "/data/vtab-1k/cifar";
  const config = {
    ...(r.recipe ? { recipe: r.recipe } : {}), method: r.method, ...(r.rank !== undefined ? { rank: r.rank } : {}),
    lr: r.lr ?? 1e-3, seed: r.seed, epochs: r.epochs ?? r.top1.length, out: dir, data,
  };
  const spec = {
    datasetFormat: r.datasetFormat ?? "vtab", preprocess: "snell-vtab", model: "vit_test", weightsFormat: "auto",
    peft: { method: r.method, ...(r.rank !== undefined ? { rank: r.rank } : {}) }, seed: r.seed, data, ...(r.fgvcName ? { fgvcName: r.fgvcName } : {}),
  };
  fs.writeFileSync(path.join(dir, "run.json"), JSON.stringify({ format: "snell-ts/run/1", config, spec, numClasses: 10 }, null, 2) + "\n");
  const lines = r.top1.map((t, epoch) => JSON.stringify({
    epoch, lr: 1e-3, loss: 1 / (epoch + 1), top1: t, top5: t === null ? null : 100, seconds: 1, peakRssMiB: 100,
    ...(r.emaTop1 ? { emaTop1: r.emaTop1[epoch] } : {}),
  }) + "\n");
  fs.writeFileSync(path.join(dir, "log.jsonl"), lines.join(""));
  if (r.finished) {
    fs.mkdirSync(path.join(dir, "adapter"), { recursive: true });
    fs.writeFileSync(path.join(dir, "adapter", "adapter_config.json"), "{}\n");
  }
  if (r.lock) fs.writeFileSync(path.join(dir, ".lock"), JSON.stringify({ ...r.lock, since: new Date(0).toISOString() }) + "\n");
  return dir;
}
