/**
 * @file TrainSession: compiles forward + gradient + optimizer update into one ONNX graph, keeps the
 * trainable state (parameters, moments, step count) as ORT tensors between runs, and serves an eval
 * graph over the same weights.
 */
import { grad } from "../autodiff/grad.js";
import { ConfigError, ShapeError } from "../errors.js";
import { GraphBuilder } from "../ir/builder.js";
import { numel } from "../ir/dtype.js";
import { ParamBinder, type Parameter, type ParameterStore } from "../ir/parameters.js";
import { fmt } from "../ir/shape.js";
import type { Value } from "../ir/value.js";
import { CompiledGraph, type CompileOptions, type Feed } from "../runtime/compiled.js";
import { collectGarbage } from "../runtime/gc.js";
import { peakRssMiB } from "../runtime/memory.js";
import { ort, toTensor } from "../runtime/ort.js";
import { readBackAll } from "../runtime/read-back.js";
import { drop, hold } from "../runtime/tensor-refs.js";
import { weightPlacementFor } from "../runtime/weight-placement.js";
import { createOptimizer, type Optimizer, type OptimizerConfig } from "./optim/index.js";

/** What the model (or PEFT method) contributes: the forward, built once per graph. */
export interface StepGraphSpec {
  params: ParameterStore;
  /**
   * Builds the forward with data inputs declared by `g.input(...)`; `train` is false for the eval
   * graph. Parameters must come from `bind` so the session knows which are trainable state.
   */
  build(g: GraphBuilder, bind: ParamBinder, train: boolean): { loss?: Value; logits: Value; outputs?: Record<string, Value> };
  optimizer: OptimizerConfig;
  /** Parameter names whose raw gradients are also returned each step (SNELLA's importance scores need them). */
  fetchGrads?: readonly string[];
  /**
   * Clip the gradients to this global L2 norm before the update, in the graph, as
   * torch.nn.utils.clip_grad_norm_ (g *= min(1, max / (norm + 1e-6))); the pre-clip norm is the
   * extra output "grad_norm". Off when absent.
   */
  clipGradNorm?: number;
}

/**
 * `device` (runtime/device.ts) places the step graph and the eval graph on one provider. On "webgpu"
 * the trainable state (parameters, optimizer moments) stays in GPU memory between steps: the step's
 * "<name>/updated" outputs are left on the device and fed straight back; only loss, logits, fetched
 * gradients and the build's outputs come to the host. `exportState` and `syncParams` read it back.
 */
export interface TrainSessionOptions extends CompileOptions {}

/**
 * Frozen weights go where runtime/weight-placement.ts says for the device: fed inputs on the CPU (ORT
 * wraps the ParameterStore's arrays without a copy; the session then reads the frozen arrays
 * themselves: replace them with params.set, never write into them), inside the graph on a GPU
 * (uploaded once instead of at every run). Pass `weights` to choose either way.
 */
const withDefaults = (opts: TrainSessionOptions): TrainSessionOptions =>
  ({ weights: weightPlacementFor(opts.device ?? "cpu"), ...opts });

/** Whether a session on `device` keeps its state on the device (onnxruntime-node leaves outputs there only on webgpu). */
const stateOnDevice = (opts: TrainSessionOptions): boolean => opts.device === "webgpu";

export interface StepResult {
  loss: number;
  logits: Float32Array;
  /** Raw gradients of `fetchGrads`, before the update. */
  grads: Record<string, Float32Array>;
  /** The extra outputs the build returned. */
  outputs: Record<string, Float32Array>;
}

export interface EvalResult {
  logits: Float32Array;
  outputs: Record<string, Float32Array>;
  /** Present when the eval build returned a loss. */
  loss?: number;
}

/** Trainable state as written by `exportState`: parameters by name, optimizer state as "<param>/<key>". */
export interface SessionState {
  /** Steps taken so far (the next step feeds step + 1). */
  step: number;
  tensors: Record<string, Float32Array>;
}

/**
 * The session's state tensors at one moment, without a copy (on a GPU they stay in device memory):
 * `restore` puts them back into this or another session of the same graph, on the same device. Holds
 * its tensors until `release()`.
 */
export class StateSnapshot {
  private released = false;
  constructor(readonly step: number, readonly tensors: ReadonlyMap<string, ort.Tensor>) {
    for (const t of tensors.values()) hold(t);
  }

  /** Lets go of the tensors (device memory is freed once no session or snapshot holds them). */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.tensors.values()) drop(t);
  }
}

/** Graph inputs the session feeds itself; a build must not declare them. */
export const RESERVED_INPUTS = ["lr", "step"] as const;

const updatedName = (name: string) => `${name}/updated`;

/** Values `y` depends on, through any op. */
function reachesLoss(y: Value): Set<Value> {
  const seen = new Set<Value>([y]);
  const stack = [y];
  while (stack.length) {
    const v = stack.pop()!;
    for (const x of v.producer?.inputs ?? []) if (x && !seen.has(x)) { seen.add(x); stack.push(x); }
  }
  return seen;
}

/** Marks `v` as an output called `name` through its own Identity, so one value can serve two outputs. */
function emit(g: GraphBuilder, v: Value, name: string): void {
  g.output(g.Identity(v), name);
}

function scalarOf(t: ort.Tensor, what: string): number {
  if (t.size !== 1) throw new ShapeError(`${what} must have one element, got dims [${t.dims.join(", ")}]`);
  return Number((t.data as Float32Array)[0]);
}

/** One trainable parameter in the step graph and the names of its state tensors. */
export interface Slot {
  param: Parameter;
  /** State tensor names ("<param>/exp_avg", ...), in the optimizer's stateKeys order. */
  stateNames: string[];
  /** False when the loss does not depend on the parameter: like torch (grad None), it is not updated. */
  updated: boolean;
}

/** Extra step output holding the global gradient norm before clipping (present with `clipGradNorm`). */
export const GRAD_NORM_OUTPUT = "grad_norm";

/**
 * Scales `grads` by min(1, maxNorm / (||grads||_2 + 1e-6)) (torch's clip_grad_norm_) and outputs the
 * norm; gradients of parameters the loss does not reach (constant zeros) are left out of the norm.
 */
function clipGrads(g: GraphBuilder, grads: Value[], live: boolean[], maxNorm: number | undefined): Value[] {
  if (maxNorm === undefined) return grads;
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) throw new ConfigError(`TrainSession: clipGradNorm must be a finite number > 0, got ${maxNorm}`);
  return g.withScope("clip_grad_norm", () => {
    const used = grads.filter((_, i) => live[i]);
    if (used.length === 0) return grads;
    const sq = used.map((d) => g.ReduceSum(g.Mul(d, d), d.shape.map((_, k) => k), 0));
    const norm = g.Sqrt(sq.reduce((a, b) => g.Add(a, b)));
    emit(g, norm, GRAD_NORM_OUTPUT);
    const coef = g.Min(g.Div(g.scalar(maxNorm), g.Add(norm, g.scalar(1e-6))), g.scalar(1));
    return grads.map((d, i) => (live[i] ? g.Mul(d, coef) : d));
  });
}

/** The uncompiled step graph and what the session needs to drive it. */
export interface StepGraph {
  g: GraphBuilder;
  optimizer: Optimizer;
  slots: Slot[];
  dataInputs: Map<string, Value>;
  /** Names of the build's extra outputs. */
  outputNames: string[];
}

/**
 * Builds forward, gradients of the bound trainable parameters and the optimizer update into one
 * graph. Outputs: "loss", "logits", the build's outputs, "<param>_grad" for `fetchGrads`, and
 * "<name>/updated" for every parameter and optimizer-state input "<name>".
 */
export function buildStepGraph(spec: StepGraphSpec): StepGraph {
  const optimizer = createOptimizer(spec.optimizer);
  const g = new GraphBuilder("train_step");
  const bind = new ParamBinder(g, spec.params);
  const out = spec.build(g, bind, true);
  if (!out.loss) throw new ConfigError("TrainSession: build(g, bind, true) returned no loss; the training graph needs one");
  const loss = out.loss;
  if (numel(loss.shape) !== 1) throw new ShapeError(`TrainSession: loss "${loss.name}" has shape ${fmt(loss.shape)}; reduce it to a scalar`);
  const paramNames = new Set(spec.params.list().map((p) => p.name));
  const dataInputs = new Map(g.inputs.filter((v) => !paramNames.has(v.name)).map((v) => [v.name, v]));
  for (const r of RESERVED_INPUTS) {
    if (dataInputs.has(r)) throw new ConfigError(`TrainSession: the build declared input "${r}", a name the session feeds itself (${RESERVED_INPUTS.join(", ")})`);
  }

  const bound = bind.boundTrainable();
  if (bound.length === 0) throw new ConfigError("TrainSession: the graph uses no trainable parameter; mark some trainable in the ParameterStore");
  const fetchGrads = spec.fetchGrads ?? [];
  for (const n of fetchGrads) {
    if (!bound.some((b) => b.param.name === n)) {
      throw new ConfigError(`TrainSession: fetchGrads names "${n}", which is not a trainable parameter of this graph; trainable: ${bound.map((b) => b.param.name).join(", ")}`);
    }
  }
  const reach = reachesLoss(loss);
  const grads = clipGrads(g, grad(g, loss, bound.map((b) => b.value)), bound.map((b) => reach.has(b.value)), spec.clipGradNorm);
  const lr = g.input("lr", []);
  const step = optimizer.usesStep ? g.input("step", []) : g.scalar(0);
  const updater = optimizer.begin(g, { lr, step });

  emit(g, loss, "loss");
  emit(g, out.logits, "logits");
  const outputNames = Object.keys(out.outputs ?? {});
  for (const [name, v] of Object.entries(out.outputs ?? {})) emit(g, v, name);
  if (spec.clipGradNorm !== undefined) outputNames.push(GRAD_NORM_OUTPUT);
  const slots: Slot[] = bound.map(({ param, value }, i) => {
    const d = grads[i]!;
    // grad() names a real gradient "<param>_grad"; a zero one (loss independent of it) is a constant.
    if (fetchGrads.includes(param.name)) {
      if (d.name === `${param.name}_grad`) g.output(d);
      else emit(g, d, `${param.name}_grad`);
    }
    const stateNames = optimizer.stateKeys.map((k) => `${param.name}/${k}`);
    const updated = reach.has(value);
    if (!updated) return { param, stateNames, updated };
    const stateIn = stateNames.map((n) => g.input(n, param.shape));
    const next = updater.update({ param, value, grad: d, state: stateIn });
    g.output(next.param, updatedName(param.name));
    next.state.forEach((v, k) => g.output(v, updatedName(stateNames[k]!)));
    return { param, stateNames, updated };
  });
  return { g, optimizer, slots, dataInputs, outputNames };
}

/** Builds and compiles the step graph; the builder goes out of scope on return, so it can be collected. */
async function compileStep(spec: StepGraphSpec, opts: TrainSessionOptions): Promise<Omit<StepGraph, "g"> & { graph: CompiledGraph }> {
  const { g, ...rest } = buildStepGraph(spec);
  const kept = stateOnDevice(opts) ? g.outputs.filter((v) => v.name.endsWith("/updated")).map((v) => v.name) : [];
  const outputLocation = kept.length ? { outputLocation: Object.fromEntries(kept.map((n) => [n, "gpu-buffer" as const])) } : {};
  return { ...rest, graph: await CompiledGraph.compile(g, { ...withDefaults(opts), ...outputLocation }) };
}

/**
 * A compiled training step.
 *
 * @example
 * const s = await TrainSession.create({ params, build, optimizer: { kind: "adamw", weightDecay: 0.05 } });
 * for (let i = 0; i < 100; i++) console.log((await s.step({ x, labels }, 1e-3)).loss);
 * await s.syncParams();
 * await s.release();
 */
export class TrainSession {
  private evalGraph: Promise<CompiledGraph> | null = null;
  private stepCount = 0;
  /** Current parameter and optimizer-state tensors, by graph input name (held: see runtime/tensor-refs.ts). */
  private readonly state = new Map<string, ort.Tensor>();
  private readonly stepSeconds: number[] = [];

  /** Per-step wall seconds (graph run plus state hand-over) and the process's peak RSS. */
  readonly stats = {
    stepSeconds: this.stepSeconds as readonly number[],
    peakRssMiB: (): number => peakRssMiB(),
  };

  private constructor(
    private readonly spec: StepGraphSpec,
    private readonly opts: TrainSessionOptions,
    private readonly optimizer: Optimizer,
    private readonly graph: CompiledGraph,
    private readonly slots: readonly Slot[],
    /** Data and extra run inputs the build declared (everything the caller feeds). */
    readonly dataInputs: ReadonlyMap<string, Value>,
    private readonly outputNames: readonly string[],
  ) {
    for (const s of slots) {
      this.state.set(s.param.name, toTensor(s.param.data, s.param.shape, "float32"));
      for (const n of s.stateNames) this.state.set(n, toTensor(new Float32Array(s.param.data.length), s.param.shape, "float32"));
    }
  }

  /** Replaces one state tensor, letting go of the old one. */
  private put(name: string, t: ort.Tensor): void {
    const old = this.state.get(name);
    this.state.set(name, hold(t));
    if (old) drop(old);
  }

  /** Builds the step graph (forward, gradients of the bound trainable parameters, update) and compiles it. */
  static async create(spec: StepGraphSpec, opts: TrainSessionOptions = {}): Promise<TrainSession> {
    const { graph, optimizer, slots, dataInputs, outputNames } = await compileStep(spec, opts);
    // The builder's graph and the model bytes are dead now that ORT holds the session (see gc.ts).
    collectGarbage();
    return new TrainSession(spec, opts, optimizer, graph, slots, dataInputs, outputNames);
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** The optimizer's validated config (defaults filled in). */
  get optimizerConfig(): Optimizer["config"] {
    return this.optimizer.config;
  }

  private checkUserFeeds(feeds: Record<string, Feed>): void {
    for (const name of Object.keys(feeds)) {
      if (this.state.has(name) || (RESERVED_INPUTS as readonly string[]).includes(name)) {
        throw new ConfigError(`feed "${name}" is state the session feeds itself; feed only data inputs (${[...this.dataInputs.keys()].join(", ")})`);
      }
    }
  }

  /** Feeds of the session's own state for the inputs `graph` actually has. */
  private stateFeeds(graph: CompiledGraph): Record<string, Feed> {
    const f: Record<string, Feed> = {};
    for (const [n, t] of this.state) if (graph.inputs.has(n)) f[n] = t;
    return f;
  }

  /** Runs one training step at learning rate `lr` and advances the state. */
  async step(feeds: Record<string, Feed>, lr: number): Promise<StepResult> {
    if (!Number.isFinite(lr) || lr < 0) throw new ConfigError(`TrainSession.step: lr must be a finite number >= 0, got ${lr}`);
    this.checkUserFeeds(feeds);
    const t0 = performance.now();
    const all: Record<string, Feed> = { ...feeds, ...this.stateFeeds(this.graph), lr: new Float32Array([lr]) };
    if (this.graph.inputs.has("step")) all.step = new Float32Array([this.stepCount + 1]);
    const r = await this.graph.run(all);
    for (const s of this.slots) {
      if (!s.updated) continue;
      this.put(s.param.name, r[updatedName(s.param.name)]!);
      for (const n of s.stateNames) this.put(n, r[updatedName(n)]!);
    }
    this.stepCount++;
    this.stepSeconds.push((performance.now() - t0) / 1000);
    const grads: Record<string, Float32Array> = {};
    for (const n of this.spec.fetchGrads ?? []) grads[n] = r[`${n}_grad`]!.data as Float32Array;
    const outputs: Record<string, Float32Array> = {};
    for (const n of this.outputNames) outputs[n] = r[n]!.data as Float32Array;
    return { loss: scalarOf(r.loss!, "loss"), logits: r.logits!.data as Float32Array, grads, outputs };
  }

  private async compileEval(): Promise<CompiledGraph> {
    const g = new GraphBuilder("eval");
    const bind = new ParamBinder(g, this.spec.params);
    const out = this.spec.build(g, bind, false);
    emit(g, out.logits, "logits");
    if (out.loss) emit(g, out.loss, "loss");
    for (const [name, v] of Object.entries(out.outputs ?? {})) emit(g, v, name);
    for (const { param } of bind.boundTrainable()) {
      if (!this.state.has(param.name)) {
        throw new ConfigError(`TrainSession.evaluate: eval graph uses trainable "${param.name}", which the training graph does not`);
      }
    }
    return CompiledGraph.compile(g, withDefaults(this.opts));
  }

  /**
   * Runs the eval graph (compiled on first use; `train` = false) with the current trainable values.
   * Feeds the eval graph does not use but the step graph does (labels) are ignored.
   */
  async evaluate(feeds: Record<string, Feed>): Promise<EvalResult> {
    this.checkUserFeeds(feeds);
    this.evalGraph ??= this.compileEval();
    const graph = await this.evalGraph;
    const data: Record<string, Feed> = {};
    for (const [n, f] of Object.entries(feeds)) if (graph.inputs.has(n) || !this.dataInputs.has(n)) data[n] = f;
    const r = await graph.run({ ...data, ...this.stateFeeds(graph) });
    const outputs: Record<string, Float32Array> = {};
    for (const o of graph.outputs) if (o.name !== "logits" && o.name !== "loss") outputs[o.name] = r[o.name]!.data as Float32Array;
    const res: EvalResult = { logits: r.logits!.data as Float32Array, outputs };
    if (r.loss) res.loss = scalarOf(r.loss, "loss");
    return res;
  }

  /**
   * Copies the current trainable values into the ParameterStore (on the CPU the arrays are handed
   * over, not cloned; on a GPU they are read back).
   */
  async syncParams(): Promise<void> {
    const values = (await this.exportState({ optimizer: false })).tensors;
    for (const s of this.slots) this.spec.params.set(s.param.name, values[s.param.name]!);
  }

  /**
   * Parameters and optimizer state for a checkpoint, read back from the device where the state lives
   * there. On the CPU the arrays are the session's own (no copy): treat them as read-only.
   * `optimizer: false` leaves the optimizer state ("<param>/<key>") out.
   */
  async exportState({ optimizer = true }: { optimizer?: boolean } = {}): Promise<SessionState> {
    const wanted = Object.fromEntries([...this.state].filter(([n]) => optimizer || !n.includes("/")));
    const step = this.stepCount;
    return { step, tensors: (await readBackAll(wanted, this.opts.device ?? "webgpu")) as Record<string, Float32Array> };
  }

  /** The current state tensors without reading them back (see StateSnapshot); release it when done. */
  snapshot(): StateSnapshot {
    return new StateSnapshot(this.stepCount, new Map(this.state));
  }

  /** Puts a snapshot's tensors (of this session or another of the same graph and device) back as the state. */
  restore(s: StateSnapshot): void {
    for (const n of this.state.keys()) if (!s.tensors.has(n)) throw new ConfigError(`restore: snapshot lacks tensor "${n}"`);
    for (const [n, t] of s.tensors) if (this.state.has(n)) this.put(n, t);
    this.stepCount = s.step;
  }

  /** Replaces some state tensors with host values of the same size (an EMA's parameters), uploading them where the state lives on a GPU. */
  setValues(values: Readonly<Record<string, Float32Array>>): void {
    for (const [n, a] of Object.entries(values)) {
      const t = this.state.get(n);
      if (!t) throw new ConfigError(`setValues: unknown tensor "${n}"; expected ${[...this.state.keys()].join(", ")}`);
      if (a.length !== t.size) throw new ShapeError(`setValues: "${n}" needs ${t.size} values ([${t.dims.join(", ")}]), got ${a.length}`);
      this.put(n, toTensor(a.slice(), t.dims, "float32"));
    }
  }

  /** Restores `exportState()` output exactly; every tensor must be present with the right size. */
  importState(s: SessionState): void {
    if (!Number.isInteger(s.step) || s.step < 0) throw new ConfigError(`importState: step must be an integer >= 0, got ${s.step}`);
    const extra = Object.keys(s.tensors).filter((n) => !this.state.has(n));
    if (extra.length) throw new ConfigError(`importState: unknown tensors ${extra.join(", ")}; expected ${[...this.state.keys()].join(", ")}`);
    const next = new Map<string, ort.Tensor>();
    for (const [n, t] of this.state) {
      const a = s.tensors[n];
      if (!a) throw new ConfigError(`importState: missing tensor "${n}"`);
      if (!(a instanceof Float32Array) || a.length !== t.size) {
        throw new ShapeError(`importState: "${n}" needs a Float32Array of ${t.size} values ([${t.dims.join(", ")}]), got ${a.constructor.name} of ${a.length}`);
      }
      next.set(n, toTensor(a.slice(), t.dims, "float32"));
    }
    for (const [n, t] of next) this.put(n, t);
    this.stepCount = s.step;
  }

  async release(): Promise<void> {
    for (const t of this.state.values()) drop(t);
    this.state.clear();
    await this.graph.release();
    if (this.evalGraph) await (await this.evalGraph).release();
    this.evalGraph = null;
  }
}
