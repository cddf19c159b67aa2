/** @file Shape and indexing ops (Reshape, Transpose, Concat, Slice, Split, Gather, ...) with gradients. */
import { numel } from "../dtype.js";
import { defineOp, type InferContext, type OutSpec } from "../op.js";
import { broadcastShapes, fmt, invertPerm, normAxis } from "../shape.js";
import type { Value } from "../value.js";

function constInput(ctx: InferContext, i: number, what: string): readonly number[] {
  const v = ctx.x[i];
  if (!v?.constValue) ctx.fail(`${what} must be a constant`);
  return v!.constValue!;
}

/** Resolves ONNX Slice bounds the way the spec clamps them. */
function sliceBounds(dim: number, start: number, end: number, step: number): [number, number, number] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) { s = clamp(s, 0, dim); e = clamp(e, 0, dim); }
  else { s = clamp(s, -1, dim - 1); e = clamp(e, -1, dim - 1); }
  const n = Math.max(0, Math.ceil((e - s) / step));
  return [s, n, step];
}

function sliceSpec(ctx: InferContext, x: Value) {
  const starts = constInput(ctx, 1, "starts"), ends = constInput(ctx, 2, "ends");
  const axes = ctx.x[3] ? constInput(ctx, 3, "axes") : starts.map((_, i) => i);
  const steps = ctx.x[4] ? constInput(ctx, 4, "steps") : starts.map(() => 1);
  return axes.map((a, i) => {
    const axis = normAxis(a, x.rank) ?? ctx.fail(`axis ${a} out of range for rank ${x.rank}`);
    if (steps[i] === 0) ctx.fail("step 0");
    return { axis, bounds: sliceBounds(x.shape[axis]!, starts[i]!, ends[i]!, steps[i]!) };
  });
}

export const movement = {
  // d reshape = reshape(dy) back to the input shape
  Reshape: defineOp("Reshape", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const spec = constInput(ctx, 1, "shape");
      const shape = spec.map((d, i) => (d === 0 ? x.shape[i] ?? ctx.fail(`0 at axis ${i} beyond input rank`) : d));
      const known = shape.filter((d) => d !== -1);
      if (shape.length - known.length > 1) ctx.fail("more than one -1");
      const total = numel(x.shape), part = numel(known);
      if (known.length < shape.length) {
        if (part === 0 || total % part !== 0) ctx.fail(`cannot infer -1 in ${fmt(spec)} from ${total} elements`);
        shape[shape.indexOf(-1)] = total / part;
      } else if (part !== total) ctx.fail(`cannot reshape ${fmt(x.shape)} (${total} elements) to ${fmt(spec)} (${part})`);
      const constValue = x.constValue ?? undefined;
      return [{ shape, dtype: x.dtype, constValue }];
    },
    vjp: ({ g, dy: [dy], x: [x] }) => [g.Reshape(dy!, x!.shape), null],
  }),
  // d transpose(perm) = transpose(dy, perm^-1)
  Transpose: defineOp("Transpose", {
    infer: ({ x: [x], attrs, fail }) => {
      const perm = (attrs.perm as readonly number[] | undefined) ?? x!.shape.map((_, i) => x!.rank - 1 - i);
      if (perm.length !== x!.rank || [...perm].sort().some((p, i) => p !== i)) fail(`perm ${fmt(perm)} is not a permutation of rank ${x!.rank}`);
      return [{ shape: perm.map((p) => x!.shape[p]!), dtype: x!.dtype }];
    },
    vjp: ({ g, dy: [dy], attrs, x: [x] }) => [g.Transpose(dy!, invertPerm((attrs.perm as number[] | undefined) ?? x!.shape.map((_, i) => x!.rank - 1 - i)))],
  }),
  // d concat = the matching slices of dy
  Concat: defineOp("Concat", {
    infer: ({ x, attrs, fail }) => {
      const first = x[0]!;
      const axis = normAxis(attrs.axis as number, first.rank) ?? fail(`axis ${attrs.axis} out of range`);
      let total = 0;
      for (const v of x as Value[]) {
        if (v.rank !== first.rank || v.dtype !== first.dtype || v.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
          fail(`${fmt(v.shape)}:${v.dtype} does not match ${fmt(first.shape)}:${first.dtype} off axis ${axis}`);
        }
        total += v.shape[axis]!;
      }
      const cv = (x as Value[]).every((v) => v.constValue) ? (x as Value[]).flatMap((v) => v.constValue!) : undefined;
      return [{ shape: first.shape.map((d, i) => (i === axis ? total : d)), dtype: first.dtype, constValue: first.rank === 1 ? cv : undefined }];
    },
    vjp: ({ g, dy: [dy], x, attrs }) => {
      const axis = normAxis(attrs.axis as number, x[0]!.rank)!;
      return g.Split(dy!, (x as Value[]).map((v) => v.shape[axis]!), axis);
    },
  }),
  // d slice = dy written into zeros at the sliced positions (Pad for unit steps, scatter otherwise)
  Slice: defineOp("Slice", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const shape = [...x.shape];
      for (const { axis, bounds } of sliceSpec(ctx, x)) shape[axis] = bounds[1];
      return [{ shape, dtype: x.dtype }];
    },
    vjp: ({ g, node, dy: [dy], x: [x] }) => {
      const spec = sliceSpec({ x: node.inputs, attrs: node.attrs, fail: (m) => { throw new Error(m); } }, x!);
      // Build per axis: for unit steps a Pad, else an index scatter along that axis.
      let grad = dy!;
      const sizes = [...dy!.shape];
      for (const { axis, bounds: [start, n, step] } of spec) {
        const full = x!.shape[axis]!;
        if (step === 1) {
          const pads = new Array(2 * x!.rank).fill(0);
          pads[axis] = start;
          pads[x!.rank + axis] = full - start - n;
          grad = g.op("Pad", [grad, g.ints(pads), g.scalar(0, dy!.dtype)])[0]!;
        } else {
          const idxShape = sizes.map((d, i) => (i === axis ? n : 1));
          const idx = g.constant(Array.from({ length: n }, (_, i) => start + i * step), idxShape, "int64");
          const outShape = [...sizes]; outShape[axis] = full;
          grad = g.ScatterElements(g.zeros(outShape, dy!.dtype), g.Expand(idx, sizes), grad, axis);
        }
        sizes[axis] = full;
      }
      return [grad, null, null, null, null];
    },
  }),
  // d split = concat of the output gradients
  Split: defineOp("Split", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const axis = normAxis((ctx.attrs.axis as number | undefined) ?? 0, x.rank) ?? ctx.fail("axis out of range");
      const split = constInput(ctx, 1, "split");
      if (split.reduce((a, b) => a + b, 0) !== x.shape[axis]) ctx.fail(`split ${fmt(split)} does not sum to ${x.shape[axis]}`);
      return split.map((n) => ({ shape: x.shape.map((d, i) => (i === axis ? n : d)), dtype: x.dtype }));
    },
    vjp: ({ g, dy, attrs, x: [x] }) => [g.Concat(dy, normAxis((attrs.axis as number | undefined) ?? 0, x!.rank)!), null],
  }),
  // d gather = scatter-add of dy at the gathered indices (repeats accumulate)
  Gather: defineOp("Gather", {
    infer: ({ x: [x, idx], attrs, fail }) => {
      if (idx!.dtype !== "int64" && idx!.dtype !== "int32") fail(`indices must be int64 or int32, got ${idx!.dtype}`);
      const axis = normAxis((attrs.axis as number | undefined) ?? 0, x!.rank) ?? fail("axis out of range");
      return [{ shape: [...x!.shape.slice(0, axis), ...idx!.shape, ...x!.shape.slice(axis + 1)], dtype: x!.dtype }];
    },
    vjp: ({ g, dy: [dy], x: [x, idx], attrs }) => {
      const axis = normAxis((attrs.axis as number | undefined) ?? 0, x!.rank)!;
      // Flatten the index block to one axis, then ScatterElements(add) along `axis`.
      const n = numel(idx!.shape);
      const pre = x!.shape.slice(0, axis), post = x!.shape.slice(axis + 1);
      const upd = g.Reshape(dy!, [...pre, n, ...post]);
      const idxShape = [...pre.map(() => 1), n, ...post.map(() => 1)];
      const flatIdx = g.Expand(g.Reshape(g.Cast(idx!, "int64"), idxShape), upd.shape);
      return [g.ScatterElements(g.zeros(x!.shape, dy!.dtype), flatIdx, upd, axis, "add"), null];
    },
  }),
  // d expand = dy (the driver sums the broadcast axes away)
  Expand: defineOp("Expand", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const s = broadcastShapes(x.shape, constInput(ctx, 1, "shape"));
      if (!s) ctx.fail(`cannot expand ${fmt(x.shape)} to ${fmt(ctx.x[1]!.constValue!)}`);
      return [{ shape: s!, dtype: x.dtype }];
    },
    vjp: ({ dy: [dy] }) => [dy!, null],
  }),
  Unsqueeze: defineOp("Unsqueeze", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const r = x.rank + constInput(ctx, 1, "axes").length;
      const axes = constInput(ctx, 1, "axes").map((a) => normAxis(a, r) ?? ctx.fail(`axis ${a} out of range`));
      const shape: number[] = [];
      let j = 0;
      for (let i = 0; i < r; i++) shape.push(axes.includes(i) ? 1 : x.shape[j++]!);
      return [{ shape, dtype: x.dtype, constValue: x.constValue ?? undefined }];
    },
    vjp: ({ g, dy: [dy], x: [x] }) => [g.Reshape(dy!, x!.shape), null],
  }),
  Squeeze: defineOp("Squeeze", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const axes = constInput(ctx, 1, "axes").map((a) => normAxis(a, x.rank) ?? ctx.fail(`axis ${a} out of range`));
      for (const a of axes) if (x.shape[a] !== 1) ctx.fail(`axis ${a} has size ${x.shape[a]}, not 1`);
      return [{ shape: x.shape.filter((_, i) => !axes.includes(i)), dtype: x.dtype, constValue: x.constValue ?? undefined }];
    },
    vjp: ({ g, dy: [dy], x: [x] }) => [g.Reshape(dy!, x!.shape), null],
  }),
  Pad: defineOp("Pad", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const pads = constInput(ctx, 1, "pads");
      if (pads.length !== 2 * x.rank) ctx.fail(`pads has ${pads.length} entries for rank ${x.rank}`);
      return [{ shape: x.shape.map((d, i) => d + pads[i]! + pads[x.rank + i]!), dtype: x.dtype }];
    },
    // d pad = the un-padded window of dy
    vjp: ({ g, node, dy: [dy], x: [x] }) => {
      const pads = node.inputs[1]!.constValue!;
      const axes = x!.shape.map((_, i) => i);
      return [g.Slice(dy!, axes.map((i) => pads[i]!), axes.map((i) => pads[i]! + x!.shape[i]!), axes), null, null];
    },
  }),
  TopK: defineOp("TopK", {
    infer: (ctx) => {
      const x = ctx.x[0]!;
      const axis = normAxis((ctx.attrs.axis as number | undefined) ?? -1, x.rank) ?? ctx.fail("axis out of range");
      const k = constInput(ctx, 1, "k")[0]!;
      if (k > x.shape[axis]!) ctx.fail(`k = ${k} exceeds axis size ${x.shape[axis]}`);
      const shape = x.shape.map((d, i) => (i === axis ? k : d));
      return [{ shape, dtype: x.dtype }, { shape, dtype: "int64" }];
    },
    // d topk = dy scattered back to the selected positions
    vjp: ({ g, dy: [dy], x: [x], y: [, idx], attrs }) => {
      const axis = normAxis((attrs.axis as number | undefined) ?? -1, x!.rank)!;
      return [g.ScatterElements(g.zeros(x!.shape, dy!.dtype), idx!, dy!, axis, "add"), null];
    },
  }),
  OneHot: defineOp("OneHot", {
    infer: (ctx) => {
      const [idx, , values] = ctx.x as Value[];
      const depth = constInput(ctx, 1, "depth")[0]!;
      const r = idx!.rank + 1;
      const axis = normAxis((ctx.attrs.axis as number | undefined) ?? -1, r) ?? ctx.fail("axis out of range");
      const shape = [...idx!.shape];
      shape.splice(axis, 0, depth);
      return [{ shape, dtype: values!.dtype }];
    },
    vjp: "none",
  }),
  ScatterElements: defineOp("ScatterElements", {
    infer: ({ x: [data, idx, upd], fail }) => {
      if (idx!.rank !== data!.rank || upd!.rank !== data!.rank) fail("data, indices and updates need the same rank");
      return [{ shape: data!.shape, dtype: data!.dtype }];
    },
    vjp: "never",
  }),
  Shape: defineOp("Shape", {
    infer: ({ x: [x] }): OutSpec[] => [{ shape: [x!.rank], dtype: "int64", constValue: x!.shape }],
    vjp: "none",
  }),
};
