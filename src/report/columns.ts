/**
 * @file Table columns: one per method and rank ("SNELL-8", "LoRA-32", "linear probe"), in the paper's
 * order (full, linear, BitFit, Adapter, LoRA, SNELL, SNELLA). Runs of one task and column that differ in
 * learning rate are never averaged together: that method/rank then gets one column per lr.
 */
import type { RunRecord } from "./run-record.js";

const NAMES: Record<string, string> = {
  full: "full fine-tuning", linear: "linear probe", bitfit: "BitFit", adapter: "Adapter", lora: "LoRA", snell: "SNELL", snella: "SNELLA",
};
const ORDER = Object.keys(NAMES);

/** "SNELL-8", "LoRA-32", "linear probe", or the method id for one we have no name for. */
export function methodLabel(method: string, rank: number | null): string {
  const name = NAMES[method] ?? method;
  return rank !== null && !["full", "linear", "bitfit"].includes(method) ? `${name}-${rank}` : name;
}

const baseKey = (r: RunRecord) => methodLabel(r.method, r.rank);

/** Method/rank labels whose runs use more than one lr on some task. */
function lrSplit(runs: readonly RunRecord[]): Set<string> {
  const lrs = new Map<string, Set<string>>();
  for (const r of runs) {
    const k = `${r.benchmark}\u0000${r.task}\u0000${baseKey(r)}`;
    (lrs.get(k) ?? lrs.set(k, new Set()).get(k)!).add(String(r.lr));
  }
  return new Set([...lrs].filter(([, s]) => s.size > 1).map(([k]) => k.split("\u0000")[2]!));
}

/** Assigns each run its column label; returns the labels in display order and the run -> label map. */
export function assignColumns(runs: readonly RunRecord[]): { columns: string[]; columnOf: (r: RunRecord) => string } {
  const split = lrSplit(runs);
  const columnOf = (r: RunRecord) => (split.has(baseKey(r)) ? `${baseKey(r)} lr=${r.lr ?? "?"}` : baseKey(r));
  const rankOf = (r: RunRecord) => {
    const i = ORDER.indexOf(r.method);
    return [i < 0 ? ORDER.length : i, r.method, r.rank ?? -1, r.lr ?? -1] as const;
  };
  const sorted = [...runs].sort((a, b) => {
    const x = rankOf(a), y = rankOf(b);
    return x[0] - y[0] || x[1].localeCompare(y[1]) || x[2] - y[2] || x[3] - y[3];
  });
  return { columns: [...new Set(sorted.map(columnOf))], columnOf };
}
