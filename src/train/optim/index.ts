/**
 * @file Optimizers that live inside the step graph: config types, validation and the factory.
 * Each optimizer appends its update to the graph, so one ORT run does forward, backward and update.
 */
import { ConfigError } from "../../errors.js";
import type { GraphBuilder } from "../../ir/builder.js";
import type { Parameter } from "../../ir/parameters.js";
import type { Value } from "../../ir/value.js";
import { AdamW } from "./adamw.js";
import { Sgd } from "./sgd.js";

/** torch.optim.AdamW: decoupled weight decay, bias-corrected moments. */
export interface AdamWConfig {
  kind: "adamw";
  /** (beta1, beta2); default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Added to sqrt(v_hat); default 1e-8. */
  eps?: number;
  /** Applied as p -= lr * wd * p to parameters with `decay` set (1-D params, biases, cls_token, pos_embed get none). */
  weightDecay: number;
}

/** torch.optim.SGD with momentum (dampening 0, no Nesterov); weight decay is L2 added to the gradient, as torch does. */
export interface SgdConfig {
  kind: "sgd";
  /** Default 0 (plain SGD, no buffer). */
  momentum?: number;
  /** Added as wd * p to the gradient of parameters with `decay` set. */
  weightDecay: number;
}

export type OptimizerConfig = AdamWConfig | SgdConfig;

/** Graph-wide scalar inputs an update may read. */
export interface StepScalars {
  /** Learning rate, float32 []. */
  lr: Value;
  /** 1-based step count, float32 []. */
  step: Value;
}

/** One parameter's update as graph values. */
export interface UpdateArgs {
  param: Parameter;
  /** The parameter's current value (a graph input). */
  value: Value;
  grad: Value;
  /** Current values of the parameter's state tensors, in `stateKeys` order. */
  state: readonly Value[];
}

/** Appends per-parameter updates to one graph; scalars shared by all parameters are built once. */
export interface GraphUpdater {
  update(args: UpdateArgs): { param: Value; state: Value[] };
}

/** An optimizer as graph nodes. */
export interface Optimizer {
  readonly config: Readonly<Required<AdamWConfig>> | Readonly<Required<SgdConfig>>;
  /** Names of the per-parameter state tensors (shaped like the parameter, zero at start), as torch calls them. */
  readonly stateKeys: readonly string[];
  /** Whether the update reads the step count (bias correction). */
  readonly usesStep: boolean;
  /** Starts emitting updates into `g`. */
  begin(g: GraphBuilder, scalars: StepScalars): GraphUpdater;
}

function check(ok: boolean, field: string, value: unknown, want: string): void {
  if (!ok) throw new ConfigError(`optimizer.${field} must be ${want}, got ${JSON.stringify(value)}`);
}

/**
 * Validates a config, fills defaults and returns the optimizer.
 *
 * @example
 * const opt = createOptimizer({ kind: "adamw", weightDecay: 0.05 });
 */
export function createOptimizer(cfg: OptimizerConfig): Optimizer {
  const wdOk = (v: number) => Number.isFinite(v) && v >= 0;
  switch (cfg.kind) {
    case "adamw": {
      const { betas = [0.9, 0.999], eps = 1e-8, weightDecay } = cfg;
      check(Array.isArray(betas) && betas.length === 2 && betas.every((b) => Number.isFinite(b) && b >= 0 && b < 1), "betas", betas, "two numbers in [0, 1)");
      check(Number.isFinite(eps) && eps > 0, "eps", eps, "> 0");
      check(wdOk(weightDecay), "weightDecay", weightDecay, ">= 0");
      return new AdamW({ kind: "adamw", betas: [betas[0], betas[1]], eps, weightDecay });
    }
    case "sgd": {
      const { momentum = 0, weightDecay } = cfg;
      check(Number.isFinite(momentum) && momentum >= 0 && momentum < 1, "momentum", momentum, "in [0, 1)");
      check(wdOk(weightDecay), "weightDecay", weightDecay, ">= 0");
      return new Sgd({ kind: "sgd", momentum, weightDecay });
    }
    default:
      throw new ConfigError(`unknown optimizer kind "${(cfg as { kind: unknown }).kind}"; expected one of adamw, sgd`);
  }
}

export { AdamW } from "./adamw.js";
export { Sgd } from "./sgd.js";
