/**
 * @file AdamW as graph nodes, step for step torch.optim.AdamW (amsgrad off, non-capturable path):
 * p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
 * https://pytorch.org/docs/1.13/generated/torch.optim.AdamW.html
 */
import type { GraphBuilder } from "../../ir/builder.js";
import type { Value } from "../../ir/value.js";
import type { AdamWConfig, GraphUpdater, Optimizer, StepScalars, UpdateArgs } from "./index.js";

/** AdamW with state `exp_avg` and `exp_avg_sq` per parameter; weight decay only where `param.decay`. */
export class AdamW implements Optimizer {
  readonly stateKeys = ["exp_avg", "exp_avg_sq"] as const;
  readonly usesStep = true;
  constructor(readonly config: Readonly<Required<AdamWConfig>>) {}

  begin(g: GraphBuilder, { lr, step }: StepScalars): GraphUpdater {
    const [b1, b2] = this.config.betas;
    const { eps, weightDecay } = this.config;
    const s = (v: number) => g.scalar(v);
    // Scalars shared by every parameter: the decay factor, -lr/bc1 and 1/sqrt(bc2). torch computes
    // the bias corrections in double from the step; here they are float32, a relative error ~1e-7.
    const shared = g.withScope("optim", () => {
      const bc1 = g.Sub(s(1), g.Pow(s(b1), step));
      const bc2 = g.Sub(s(1), g.Pow(s(b2), step));
      return {
        negStepSize: g.Neg(g.Div(lr, bc1)),
        invSqrtBc2: g.Reciprocal(g.Sqrt(bc2)),
        keep: weightDecay > 0 ? g.Sub(s(1), g.Mul(lr, s(weightDecay))) : null,
      };
    });
    return {
      update: ({ param, value, grad, state: [m, v] }: UpdateArgs) =>
        g.withScope(`optim/${param.name}`, () => {
          const p = param.decay && shared.keep ? g.Mul(value, shared.keep) : value;
          const m1 = g.Add(g.Mul(m!, s(b1)), g.Mul(grad, s(1 - b1)));
          const v1 = g.Add(g.Mul(v!, s(b2)), g.Mul(g.Mul(grad, grad), s(1 - b2)));
          const denom = g.Add(g.Mul(g.Sqrt(v1), shared.invSqrtBc2), s(eps));
          const p1 = g.Add(p, g.Mul(g.Div(m1, denom), shared.negStepSize));
          return { param: p1, state: [m1, v1] };
        }),
    };
  }
}
