/**
 * @file Which table a task belongs to: the paper's VTAB-1k groups (Natural / Specialized / Structured,
 * in its column order) and the FGVC datasets, under the task names our recipes use (src/cli/recipes.ts).
 */
import { FGVC_DATASETS, getRecipe, VTAB_TASKS } from "../cli/recipes.js";

/** A table of the report. "other": any task outside the two benchmarks (the MNIST demo, an ImageFolder). */
export type Benchmark = "vtab-1k" | "fgvc" | "other";

/** One VTAB-1k group as the paper averages it. */
export interface TaskGroup {
  name: string;
  tasks: readonly string[];
}

/** The paper's grouping (SNELL, Table 1; the VTAB-1k convention). Tested to cover VTAB_TASKS exactly. */
export const VTAB_GROUPS: readonly TaskGroup[] = [
  { name: "Natural", tasks: ["cifar", "caltech101", "dtd", "oxford_flowers102", "oxford_iiit_pet", "svhn", "sun397"] },
  { name: "Specialized", tasks: ["patch_camelyon", "eurosat", "resisc45", "diabetic_retinopathy"] },
  { name: "Structured", tasks: ["clevr_count", "clevr_dist", "dmlab", "kitti", "dsprites_loc", "dsprites_ori", "smallnorb_azi", "smallnorb_ele"] },
];

/** The FGVC datasets as one group (the paper reports their mean). */
export const FGVC_GROUP: TaskGroup = { name: "FGVC", tasks: FGVC_DATASETS };

/** Our FGVC reader's names (spec.fgvcName) -> the recipes' dataset names. */
const FGVC_READER_NAMES: Record<string, string> = {
  cub: "cub", nabirds: "nabirds", stanforddog: "stanford_dogs", stanfordcars: "stanford_cars", oxfordflower: "oxford_flowers",
};

/** A task's table and name. */
export interface TaskId {
  benchmark: Benchmark;
  task: string;
}

/**
 * The task of a recipe name ("vtab/cifar-lora", "fgvc/cub-r16", "snella-fgvc/stanfordcar"): the canonical
 * recipe name without its prefix and its rank / LoRA suffixes. Null for a name no recipe has.
 */
export function taskOfRecipe(name: string): TaskId | null {
  let canonical: string;
  try {
    canonical = getRecipe(name).name;
  } catch {
    return null;
  }
  const task = canonical.slice(canonical.indexOf("/") + 1).replace(/-lora$/, "").replace(/-r\d+$/, "");
  return classify(task);
}

/** The table of a task name: VTAB-1k and FGVC names as the recipes spell them, FGVC reader names too, else other. */
export function classify(name: string): TaskId {
  const n = name.trim().toLowerCase();
  if (VTAB_TASKS.includes(n)) return { benchmark: "vtab-1k", task: n };
  if (FGVC_DATASETS.includes(n)) return { benchmark: "fgvc", task: n };
  const fgvc = FGVC_READER_NAMES[n];
  if (fgvc) return { benchmark: "fgvc", task: fgvc };
  return { benchmark: "other", task: name };
}

/** The paper's row order of a benchmark's tasks; other tasks sort by name. */
export function taskOrder(benchmark: Benchmark, tasks: Iterable<string>): string[] {
  const known = benchmark === "vtab-1k" ? VTAB_GROUPS.flatMap((g) => g.tasks) : benchmark === "fgvc" ? [...FGVC_DATASETS] : [];
  const set = new Set(tasks);
  return [...known.filter((t) => set.has(t)), ...[...set].filter((t) => !known.includes(t)).sort()];
}
