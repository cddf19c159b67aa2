/**
 * @file The `snell web` page: pick images and a method, fine-tune the shipped demo backbone in the
 * browser (WebGPU or wasm), watch loss and accuracy, download the adapter and the merged model.
 * Query parameters (for tests and links): backend=webgpu|wasm, method, epochs, batch, steps, seed,
 * autostart=1. The run's figures are mirrored on `window.snellWeb` for tests.
 */
import { DEMO_METHODS } from "../../demo/methods.js";
import { fineTune, type EvalPointWeb } from "../fine-tune.js";
import { chooseBackend, configureOrt, type BackendChoice } from "./backend.js";
import { drawChart } from "./chart.js";
import { loadBundledDigits, loadFolder, type PageTask } from "./data.js";
import { buildDownloads, showDownloads } from "./downloads.js";

/** The methods the page offers: the demo's, without full fine-tuning. */
const METHODS = DEMO_METHODS.filter((m) => m.peft.method !== "full");

/** What tests read: the run's phase, figures and error. */
interface PageState {
  phase: "idle" | "loading" | "training" | "done" | "error";
  backend: BackendChoice | null;
  losses: number[];
  evals: EvalPointWeb[];
  top1: number | null;
  error: string | null;
  seconds: number | null;
  /** True while the Pause button holds the run between two steps. */
  paused: boolean;
  /** The decoded task: counts, class names and the sum of the training pixels (tests compare it with Node's decode). */
  task: { train: number; test: number; classes: string[]; trainSum: number } | null;
}
const state: PageState = { phase: "idle", backend: null, losses: [], evals: [], top1: null, error: null, seconds: null, paused: false, task: null };
(window as unknown as { snellWeb: PageState }).snellWeb = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const q = new URLSearchParams(location.search);
const status = (s: string) => ($("status").textContent = s);

function setupForm(): void {
  const sel = $<HTMLSelectElement>("method");
  for (const m of METHODS) sel.add(new Option(`${m.label} (lr ${m.lr})`, m.label));
  sel.value = q.get("method") ?? "SNELL-8";
  for (const k of ["epochs", "batch", "steps", "seed"]) if (q.has(k)) $<HTMLInputElement>(k).value = q.get(k)!;
  $<HTMLInputElement>("folder").addEventListener("change", () => {
    (document.querySelector("input[value=folder]") as HTMLInputElement).checked = true;
  });
}

function readInt(id: string, min: number): number | undefined {
  const v = $<HTMLInputElement>(id).value.trim();
  if (v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${id} must be an integer >= ${min}, got "${v}"`);
  return n;
}

async function loadTask(): Promise<PageTask> {
  const source = (document.querySelector("input[name=source]:checked") as HTMLInputElement).value;
  if (source === "digits") return loadBundledDigits();
  const files = $<HTMLInputElement>("folder").files;
  if (!files?.length) throw new Error("pick a folder first (one subfolder per class)");
  return loadFolder(files, (d, t) => status(`decoding images ${d}/${t}...`));
}

/**
 * Lets the browser paint the status and chart between steps: ORT's promises resolve as microtasks and
 * wasm runs on this thread, so without waiting for a frame the page showed "compiling..." until the end.
 */
const nextFrame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

let pauseWanted = false;

/** Holds the run between steps while Pause is pressed (the state stays on the session, nothing is lost). */
async function pausePoint(): Promise<void> {
  if (!pauseWanted) return;
  state.paused = true;
  $("status").textContent += "\npaused (press Resume)";
  while (pauseWanted) await new Promise((r) => setTimeout(r, 100));
  state.paused = false;
}

function setupPause(): void {
  const b = $<HTMLButtonElement>("pause");
  b.addEventListener("click", () => {
    pauseWanted = !pauseWanted;
    b.textContent = pauseWanted ? "Resume" : "Pause";
  });
}

async function run(backend: BackendChoice): Promise<void> {
  Object.assign(state, { phase: "loading", losses: [], evals: [], top1: null, error: null, seconds: null, task: null });
  $<HTMLButtonElement>("start").disabled = true;
  $<HTMLButtonElement>("pause").disabled = false;
  $("downloads").replaceChildren();
  const t0 = performance.now();
  try {
    const method = METHODS.find((m) => m.label === $<HTMLSelectElement>("method").value)!;
    const epochs = readInt("epochs", 1) ?? 1, batchSize = readInt("batch", 1) ?? 32, seed = readInt("seed", 0) ?? 0;
    const maxSteps = readInt("steps", 1);
    status("loading images and the backbone...");
    const task = await loadTask();
    state.task = { train: task.train.count, test: task.test.count, classes: task.classes, trainSum: task.train.images.reduce((a, b) => a + b, 0) };
    const weights = new Uint8Array(await (await fetch("demo/backbone.safetensors")).arrayBuffer());
    const spe = Math.floor(task.train.count / batchSize);
    const totalSteps = Math.min(maxSteps ?? Infinity, spe * epochs);
    const canvas = $<HTMLCanvasElement>("chart");
    const redraw = () => drawChart(canvas, { losses: state.losses, evals: state.evals, totalSteps });
    state.phase = "training";
    status(`${method.label} on ${backend.backend}: compiling the step graph...`);
    const r = await fineTune({
      weights, method, train: task.train, test: task.test, numClasses: task.classes.length, epochs, batchSize, seed,
      ...(maxSteps ? { maxSteps } : {}), device: backend.device,
      onStep: async (p) => {
        state.losses.push(p.loss);
        status(`${method.label} on ${backend.backend} (${task.source})\nstep ${p.step}/${totalSteps}, epoch ${p.epoch + 1}/${epochs}: loss ${p.loss.toFixed(4)}, lr ${p.lr.toExponential(2)}`);
        redraw();
        await nextFrame();
        await pausePoint();
      },
      onEval: async (p) => {
        state.evals.push(p);
        redraw();
        await nextFrame();
      },
    });
    state.top1 = r.top1;
    state.seconds = (performance.now() - t0) / 1000;
    showDownloads($("downloads"), buildDownloads(r.model));
    status(`${method.label} on ${backend.backend}: ${r.losses.length} steps in ${state.seconds.toFixed(1)} s, test top-1 ${r.top1.toFixed(2)}% on ${task.test.count} images (${task.source})`);
    state.phase = "done";
  } catch (e) {
    state.error = (e as Error).message;
    state.phase = "error";
    status(`error: ${state.error}`);
  } finally {
    $<HTMLButtonElement>("start").disabled = false;
    $<HTMLButtonElement>("pause").disabled = true;
  }
}

async function main(): Promise<void> {
  setupForm();
  setupPause();
  configureOrt();
  let backend: BackendChoice;
  try {
    backend = await chooseBackend(q.get("backend"));
  } catch (e) {
    Object.assign(state, { phase: "error", error: (e as Error).message });
    status(`error: ${state.error}`);
    $("backend").textContent = "none";
    return;
  }
  state.backend = backend;
  $("backend").textContent = `${backend.backend} (${backend.why}${backend.backend === "wasm" ? `, ${crossOriginIsolated ? "multi-threaded" : "one thread: no cross-origin isolation"}` : ""})`;
  $<HTMLButtonElement>("start").addEventListener("click", () => void run(backend));
  if (q.get("autostart") === "1") await run(backend);
}

void main();
