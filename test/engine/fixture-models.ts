/** @file The engine parity models (MLP, 1-block transformer) rebuilt from the PyTorch fixtures. */
import { readFileSync } from "node:fs";
import type { GraphBuilder } from "../../src/ir/builder.js";
import { ParameterStore, type ParamBinder } from "../../src/ir/parameters.js";
import type { Value } from "../../src/ir/value.js";
import { Rng, kaimingUniform } from "../../src/random.js";
import type { OptimizerConfig } from "../../src/train/optim/index.js";
import type { StepGraphSpec } from "../../src/train/step-session.js";

export interface FixtureTensor { shape: number[]; data: number[]; decay?: boolean }
export interface FixtureRun { optimizer: OptimizerConfig; lrs: number[]; losses: number[]; finalLogits: number[] }
export interface Fixture {
  model: "mlp" | "transformer";
  steps: number;
  x: FixtureTensor;
  labels: number[];
  /** Linear weights already transposed to [in, out]. */
  init: Record<string, FixtureTensor>;
  runs: Record<"adamw" | "sgd", FixtureRun>;
}

export function loadFixture(name: "mlp" | "transformer"): Fixture {
  return JSON.parse(readFileSync(new URL(`../fixtures/engine/${name}.json`, import.meta.url), "utf8")) as Fixture;
}

/** All fixture weights, trainable, with the fixture's decay flags. */
export function storeOf(f: Fixture): ParameterStore {
  const ps = new ParameterStore();
  for (const [name, t] of Object.entries(f.init)) ps.add(name, t.shape, Float32Array.from(t.data), { trainable: true, decay: t.decay ?? t.shape.length === 2 });
  return ps;
}

/** Mean softmax cross-entropy over the batch: -mean(sum(onehot(labels) * logsoftmax(logits))). */
export function crossEntropy(g: GraphBuilder, logits: Value, labels: Value): Value {
  const classes = logits.shape[logits.rank - 1]!;
  const onehot = g.OneHot(labels, classes, g.constant([0, 1]));
  const picked = g.ReduceSum(g.Mul(onehot, g.LogSoftmax(logits, -1)), [1], 0);
  return g.Neg(g.ReduceMean(picked, [0], 0));
}

const lin = (g: GraphBuilder, b: ParamBinder, x: Value, name: string) => g.linear(x, b.get(`${name}.weight`), b.get(`${name}.bias`));

/** Linear-GELU-Linear. */
export function mlp(g: GraphBuilder, b: ParamBinder, x: Value): Value {
  return lin(g, b, g.gelu(lin(g, b, x, "fc1")), "fc2");
}

/** Token embedding, cls token, pos embed, one pre-norm block (2-head attention, GELU MLP), final norm, cls head. */
export function transformer(g: GraphBuilder, b: ParamBinder, x: Value, heads = 2): Value {
  const [batch, tokens] = x.shape as [number, number, number];
  const ln = (v: Value, name: string) => g.LayerNormalization(v, b.get(`${name}.weight`), b.get(`${name}.bias`), { epsilon: 1e-6 });
  const e = lin(g, b, x, "embed");
  const dim = e.shape[2]!;
  const n = tokens + 1, hd = dim / heads;
  const cls = g.Expand(b.get("cls_token"), [batch, 1, dim]);
  let h = g.Add(g.Concat([cls, e], 1), b.get("pos_embed"));
  const qkv = g.Transpose(g.Reshape(lin(g, b, ln(h, "block.norm1"), "block.qkv"), [batch, n, 3, heads, hd]), [2, 0, 3, 1, 4]);
  const [q, k, v] = g.Split(qkv, [1, 1, 1], 0).map((t) => g.Reshape(t, [batch, heads, n, hd])) as [Value, Value, Value];
  const attn = g.Softmax(g.MatMul(g.Mul(q, g.scalar(hd ** -0.5)), g.Transpose(k, [0, 1, 3, 2])), -1);
  const y = g.Reshape(g.Transpose(g.MatMul(attn, v), [0, 2, 1, 3]), [batch, n, dim]);
  h = g.Add(h, lin(g, b, y, "block.proj"));
  h = g.Add(h, lin(g, b, g.gelu(lin(g, b, ln(h, "block.norm2"), "block.fc1")), "block.fc2"));
  const clsOut = g.Reshape(g.Slice(ln(h, "norm"), [0], [1], [1]), [batch, dim]);
  return lin(g, b, clsOut, "head");
}

/** The session tests' MLP: batch, input, hidden and class sizes. */
export const MLP = { B: 6, D: 5, H: 7, C: 3 } as const;

/** The session tests' MLP parameters (seeded Kaiming init), all trainable but `frozen`. */
export function mlpParams(frozen: readonly string[] = []): ParameterStore {
  const { D, H, C } = MLP;
  const rng = new Rng(3);
  const ps = new ParameterStore();
  const add = (name: string, shape: number[], fanIn: number) =>
    ps.add(name, shape, kaimingUniform(rng, shape.reduce((a, b) => a * b, 1), fanIn), { trainable: !frozen.includes(name) });
  add("fc1.weight", [D, H], D); add("fc1.bias", [H], D);
  add("fc2.weight", [H, C], H); add("fc2.bias", [C], H);
  return ps;
}

/** The session tests' step: the MLP on "x" with cross-entropy against "labels", AdamW; `probs` adds the softmax as an extra output. */
export function mlpSpec(ps: ParameterStore, { probs = false }: { probs?: boolean } = {}): StepGraphSpec {
  const { B, D } = MLP;
  return {
    params: ps,
    optimizer: { kind: "adamw", weightDecay: 0.1 },
    build: (g, b) => {
      const x = g.input("x", [B, D]);
      const labels = g.input("labels", [B], "int64");
      const logits = mlp(g, b, x);
      return { logits, loss: crossEntropy(g, logits, labels), ...(probs ? { outputs: { probs: g.Softmax(logits, -1) } } : {}) };
    },
  };
}

/** A seeded batch for the MLP step. */
export function mlpData(seed = 5): { x: Float32Array; labels: BigInt64Array } {
  const { B, D, C } = MLP;
  const rng = new Rng(seed);
  return { x: Float32Array.from({ length: B * D }, () => rng.normal()), labels: BigInt64Array.from({ length: B }, () => BigInt(rng.int(C))) };
}
