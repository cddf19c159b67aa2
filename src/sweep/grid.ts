/**
 * @file A sweep file (YAML or JSON) and its expansion into runs: tasks x methods x ranks x seeds x lrs,
 * each run one `snell train` config with a stable id (sha256 of its canonical JSON) and a readable
 * folder name under the runs root. Pure: no queue, no processes; `snell sweep`, `snell submit`, the
 * worker and `snell report` share it.
 *
 * Schema (keys may be spelled kebab-, snake- or camelCase, as in a --config file):
 *
 *   recipes:                 # required, one entry per task
 *     - vtab/cifar           #   a recipe name: its data is <data-root>/<the recipe's dataset folder>
 *     - recipe: fgvc/cub     #   or a mapping: recipe and/or data, optional name and train overrides
 *       data: /data/fgvc/CUB_200_2011
 *     - name: mnist          #   no recipe: every setting comes from `train` and the lists
 *       data: data/mnist
 *       train: { dataset-format: imagefolder }
 *   data-root: /data/vtab-1k # optional, for entries without data
 *   methods: [snell, lora]   # each list optional; absent = one run with the recipe's (or train's) value
 *   ranks: [8, 32]
 *   seeds: [0, 1, 2]
 *   lrs: [0.001]
 *   train: { epochs: 100 }   # fixed `snell train` options of every run (any flag, camelCase or kebab-case)
 *
 * Relative paths (data, data-root, weights) are taken from the sweep file's folder.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import { ConfigError } from "../errors.js";
import { camelCaseKeys, loadConfigFile, type ConfigObject } from "../cli/config-file.js";
import { getRecipe } from "../cli/recipes.js";

/** Top-level keys of a sweep file (camelCase). */
export const SWEEP_KEYS = ["recipes", "dataRoot", "methods", "ranks", "seeds", "lrs", "train"] as const;

/** A task entry as written in the file, normalised to a mapping. */
export interface SweepTask {
  recipe?: string;
  data?: string;
  name?: string;
  train?: ConfigObject;
}

/** A parsed sweep: the lists and fixed options, before expansion. */
export interface Sweep {
  tasks: SweepTask[];
  dataRoot?: string;
  methods?: string[];
  ranks?: number[];
  seeds?: number[];
  lrs?: number[];
  train: ConfigObject;
}

/** One run of a sweep. */
export interface SweepRun {
  /** 16 hex digits of sha256(canonical JSON of `config`): the job id, the same for the same settings. */
  id: string;
  /** Folder name under the runs root: `<task>-<method>[-r<rank>][-lr<lr>]-seed<seed>-<id 8>`. */
  name: string;
  /** The task's label (entry name, else the recipe's task, else the data folder's name). */
  task: string;
  recipe: string | null;
  /** Method, rank, seed and lr as the run will use them (recipe values where the sweep sets none; null when unknown). */
  method: string;
  rank: number | null;
  seed: number;
  lr: number | null;
  /** The `snell train` config (as a --config file), without out/resume/overwrite. */
  config: ConfigObject;
}

const isObject = (v: unknown): v is ConfigObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** Canonical JSON: object keys sorted at every level, so equal settings give equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
  return JSON.stringify(v);
}

/** The run id of a train config. */
export function runIdOf(config: ConfigObject): string {
  return createHash("sha256").update(canonicalJson(config)).digest("hex").slice(0, 16);
}

function list<T>(raw: unknown, key: string, ok: (x: unknown) => x is T, what: string): T[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const xs = Array.isArray(raw) ? raw : [raw];
  if (xs.length === 0) throw new ConfigError(`sweep ${key}: an empty list gives no runs; leave the key out instead`);
  for (const x of xs) if (!ok(x)) throw new ConfigError(`sweep ${key}: every entry must be ${what}, got ${JSON.stringify(x)}`);
  return xs as T[];
}

const isString = (x: unknown): x is string => typeof x === "string" && x.trim() !== "";
const isInt = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
const isPositive = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x) && x > 0;

function taskOf(raw: unknown, i: number): SweepTask {
  if (isString(raw)) return { recipe: raw };
  if (!isObject(raw)) throw new ConfigError(`sweep recipes[${i}]: expected a recipe name or a mapping with recipe/data/name/train, got ${JSON.stringify(raw)}`);
  for (const k of Object.keys(raw)) if (!["recipe", "data", "name", "train"].includes(k)) throw new ConfigError(`sweep recipes[${i}]: unknown key "${k}"; expected recipe, data, name, train`);
  const t: SweepTask = {};
  for (const k of ["recipe", "data", "name"] as const) {
    if (raw[k] === undefined) continue;
    if (!isString(raw[k])) throw new ConfigError(`sweep recipes[${i}].${k} must be a non-empty string`);
    t[k] = raw[k] as string;
  }
  if (raw.train !== undefined) {
    if (!isObject(raw.train)) throw new ConfigError(`sweep recipes[${i}].train must be a mapping of train options`);
    t.train = raw.train;
  }
  if (!t.recipe && !t.data) throw new ConfigError(`sweep recipes[${i}]: give a recipe, a data folder, or both`);
  return t;
}

/** Checks a parsed sweep document (keys already camelCase) and returns it typed. */
export function parseSweep(doc: ConfigObject, where = "sweep"): Sweep {
  for (const k of Object.keys(doc)) {
    if (!(SWEEP_KEYS as readonly string[]).includes(k)) throw new ConfigError(`${where}: unknown key "${k}"; expected one of ${SWEEP_KEYS.join(", ")}`);
  }
  const rawTasks = doc.recipes;
  if (!Array.isArray(rawTasks) || rawTasks.length === 0) throw new ConfigError(`${where}: "recipes" must be a non-empty list of recipe names or {recipe, data, name, train} entries`);
  if (doc.train !== undefined && !isObject(doc.train)) throw new ConfigError(`${where}: "train" must be a mapping of snell train options`);
  if (doc.dataRoot !== undefined && !isString(doc.dataRoot)) throw new ConfigError(`${where}: "data-root" must be a folder path`);
  return {
    tasks: rawTasks.map(taskOf),
    ...(doc.dataRoot !== undefined ? { dataRoot: doc.dataRoot as string } : {}),
    methods: list(doc.methods, "methods", isString, "a method name"),
    ranks: list(doc.ranks, "ranks", isInt, "a non-negative integer"),
    seeds: list(doc.seeds, "seeds", isInt, "a non-negative integer"),
    lrs: list(doc.lrs, "lrs", isPositive, "a positive number"),
    train: (doc.train as ConfigObject | undefined) ?? {},
  };
}

/** Reads and checks a sweep file. */
export function loadSweep(file: string): Sweep {
  return parseSweep(loadConfigFile(file), file);
}

const PATH_KEYS = ["data", "weights"] as const;

/** Resolves relative path options against `baseDir`. */
function withAbsolutePaths(c: ConfigObject, baseDir: string): ConfigObject {
  const out = { ...c };
  for (const k of PATH_KEYS) if (typeof out[k] === "string") out[k] = path.resolve(baseDir, out[k] as string);
  return out;
}

/** A folder-name part: letters, digits, dot, dash and underscore only. */
const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, "_");

function taskLabel(t: SweepTask): string {
  if (t.name) return t.name;
  if (t.recipe) return t.recipe.slice(t.recipe.indexOf("/") + 1);
  return path.basename(path.resolve(t.data!));
}

/** The folder name of a run (see SweepRun.name). */
export function runFolderName(r: Omit<SweepRun, "name" | "config">): string {
  const parts = [r.task, r.method, r.rank !== null ? `r${r.rank}` : null, r.lr !== null ? `lr${r.lr}` : null, `seed${r.seed}`, r.id.slice(0, 8)];
  return safe(parts.filter((p) => p !== null).join("-"));
}

/** One run's train config: sweep-wide options, the task's overrides, then the grid point. */
function runConfig(s: Sweep, t: SweepTask, point: ConfigObject, baseDir: string): ConfigObject {
  const train = camelCaseKeys(s.train) as ConfigObject;
  const own = camelCaseKeys(t.train ?? {}) as ConfigObject;
  for (const k of ["out", "resume", "overwrite", "config"]) {
    if (k in train || k in own) throw new ConfigError(`sweep train options cannot set "${k}": the sweep chooses each run's folder`);
  }
  const c: ConfigObject = { ...train, ...own, ...point };
  if (t.recipe) {
    getRecipe(t.recipe); // an unknown name fails here, with the list, before any job is queued
    c.recipe = t.recipe;
  }
  if (t.data) c.data = t.data;
  else if (t.recipe && c.data === undefined) {
    if (!s.dataRoot) throw new ConfigError(`sweep: recipe ${t.recipe} has no data folder; give it "data" or set "data-root"`);
    c.data = path.join(s.dataRoot, getRecipe(t.recipe).dataset);
  }
  if (c.data === undefined) throw new ConfigError(`sweep: task ${taskLabel(t)} has no data folder`);
  return withAbsolutePaths(c, baseDir);
}

/**
 * Every run of a sweep, in file order (task, then method, rank, seed, lr). Two grid points with the same
 * settings are one run. `baseDir` is the sweep file's folder.
 */
export function expandSweep(s: Sweep, baseDir: string): SweepRun[] {
  const axis = <T>(xs: T[] | undefined): (T | undefined)[] => xs ?? [undefined];
  const runs = new Map<string, SweepRun>();
  for (const t of s.tasks) {
    const recipe = t.recipe ? getRecipe(t.recipe) : null;
    for (const method of axis(s.methods)) for (const rank of axis(s.ranks)) for (const seed of axis(s.seeds)) for (const lr of axis(s.lrs)) {
      const point: ConfigObject = { method, rank, seed, lr };
      for (const k of Object.keys(point)) if (point[k] === undefined) delete point[k];
      const config = runConfig(s, t, point, baseDir);
      const id = runIdOf(config);
      const r = {
        id, task: taskLabel(t), recipe: t.recipe ?? null,
        method: String(config.method ?? recipe?.method ?? "snell"),
        rank: typeof config.rank === "number" ? config.rank : recipe?.rank ?? null,
        seed: typeof config.seed === "number" ? config.seed : recipe?.seed ?? 0,
        lr: typeof config.lr === "number" ? config.lr : recipe?.lr ?? null,
      };
      if (!runs.has(id)) runs.set(id, { ...r, name: runFolderName(r), config });
    }
  }
  return [...runs.values()];
}

/** A single run from plain train options (`snell submit`): the same id and folder rules as a sweep's runs. */
export function singleRun(train: ConfigObject, baseDir: string): SweepRun {
  const { data, recipe, name, ...rest } = train;
  const task: SweepTask = {
    ...(typeof recipe === "string" ? { recipe } : {}), ...(typeof data === "string" ? { data } : {}), ...(typeof name === "string" ? { name } : {}),
  };
  if (!task.recipe && !task.data) throw new ConfigError("give the run's data folder (--data) or a recipe (--recipe)");
  return expandSweep({ tasks: [task], train: rest }, baseDir)[0]!;
}
