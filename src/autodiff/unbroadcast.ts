/** @file Sums a gradient over the axes its input was broadcast along, back to the input's shape. */
import { InternalError } from "../errors.js";
import type { GraphBuilder } from "../ir/builder.js";
import { fmt, sameShape } from "../ir/shape.js";
import type { Value } from "../ir/value.js";

export function unbroadcast(g: GraphBuilder, grad: Value, shape: readonly number[]): Value {
  if (sameShape(grad.shape, shape)) return grad;
  const lead = grad.rank - shape.length;
  if (lead < 0) throw new InternalError(`unbroadcast: gradient ${fmt(grad.shape)} has lower rank than input ${fmt(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) {
    const want = i < lead ? 1 : shape[i - lead]!;
    if (i < lead || (want === 1 && grad.shape[i] !== 1)) axes.push(i);
    else if (want !== grad.shape[i]) throw new InternalError(`unbroadcast: gradient ${fmt(grad.shape)} does not reduce to ${fmt(shape)}`);
  }
  const summed = axes.length ? g.ReduceSum(grad, axes, 1) : grad;
  return sameShape(summed.shape, shape) ? summed : g.Reshape(summed, shape);
}
