/**
 * @file SGD with momentum as graph nodes, as torch.optim.SGD (dampening 0, no Nesterov):
 * d = g + wd p; buf = momentum buf + d (buf starts at 0, so the first step gives buf = d); p -= lr buf.
 * https://pytorch.org/docs/1.13/generated/torch.optim.SGD.html
 */
import type { GraphBuilder } from "../../ir/builder.js";
import type { GraphUpdater, Optimizer, SgdConfig, StepScalars, UpdateArgs } from "./index.js";

/** SGD; state `momentum_buffer` per parameter when momentum > 0, none otherwise. */
export class Sgd implements Optimizer {
  readonly stateKeys: readonly string[];
  readonly usesStep = false;
  constructor(readonly config: Readonly<Required<SgdConfig>>) {
    this.stateKeys = config.momentum > 0 ? ["momentum_buffer"] : [];
  }

  begin(g: GraphBuilder, { lr }: StepScalars): GraphUpdater {
    const { momentum, weightDecay } = this.config;
    const negLr = g.withScope("optim", () => g.Neg(lr));
    return {
      update: ({ param, value, grad, state: [buf] }: UpdateArgs) =>
        g.withScope(`optim/${param.name}`, () => {
          const d = param.decay && weightDecay > 0 ? g.Add(grad, g.Mul(value, g.scalar(weightDecay))) : grad;
          const b1 = momentum > 0 ? g.Add(g.Mul(buf!, g.scalar(momentum)), d) : d;
          return { param: g.Add(value, g.Mul(b1, negLr)), state: momentum > 0 ? [b1] : [] };
        }),
    };
  }
}
