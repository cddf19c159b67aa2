/** @file Elementwise ONNX ops: shape rule and reverse-mode rule side by side. */
import { isFloat } from "../dtype.js";
import { CUSTOM_RULES, defineOp, type InferContext, type OpDef, type OutSpec, type VjpFn } from "../op.js";
import { broadcastShapes, fmt } from "../shape.js";
import type { Value } from "../value.js";

function binary(ctx: InferContext, outDtype?: "bool"): OutSpec[] {
  const [a, b] = ctx.x as Value[];
  if (a!.dtype !== b!.dtype) ctx.fail(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`);
  const shape = broadcastShapes(a!.shape, b!.shape);
  if (!shape) ctx.fail(`shapes ${fmt(a!.shape)} and ${fmt(b!.shape)} do not broadcast`);
  return [{ shape: shape!, dtype: outDtype ?? a!.dtype }];
}

const same = (ctx: InferContext): OutSpec[] => [{ shape: ctx.x[0]!.shape, dtype: ctx.x[0]!.dtype }];

const floatOnly = (ctx: InferContext): OutSpec[] => {
  if (!isFloat(ctx.x[0]!.dtype)) ctx.fail(`needs a float input, got ${ctx.x[0]!.dtype}`);
  return same(ctx);
};

const arith = (vjp: VjpFn): OpDef => defineOp("", { infer: (c) => binary(c), vjp });
const unary = (vjp: VjpFn | "none"): OpDef => defineOp("", { infer: floatOnly, vjp });
const compare = (): OpDef => defineOp("", { infer: (c) => binary(c, "bool"), vjp: "none" });
const logic = (): OpDef => defineOp("", { infer: (c) => binary(c), vjp: "none" });

export const elementwise = {
  // d(a+b) = (dy, dy); the driver sums broadcast axes back to each input's shape.
  Add: arith(({ dy: [dy] }) => [dy!, dy!]),
  // d(a-b) = (dy, -dy)
  Sub: arith(({ g, dy: [dy] }) => [dy!, g.Neg(dy!)]),
  // d(a*b) = (dy*b, a*dy)
  Mul: arith(({ g, dy: [dy], x: [a, b], needs }) => [needs[0] ? g.Mul(dy!, b!) : null, needs[1] ? g.Mul(a!, dy!) : null]),
  // d(a/b) = (dy/b, -dy*a/b^2) = (dy/b, -dy*y/b)
  Div: arith(({ g, dy: [dy], x: [, b], y: [y], needs }) => [
    needs[0] ? g.Div(dy!, b!) : null,
    needs[1] ? g.Neg(g.Div(g.Mul(dy!, y!), b!)) : null,
  ]),
  // d(a^p) = (dy*p*a^(p-1), dy*y*log a)
  Pow: arith(({ g, dy: [dy], x: [a, p], y: [y], needs }) => [
    needs[0] ? g.Mul(dy!, g.Mul(p!, g.Pow(a!, g.Sub(p!, g.scalar(1, p!.dtype))))) : null,
    needs[1] ? g.Mul(dy!, g.Mul(y!, g.Log(a!))) : null,
  ]),
  // d max(a,b): dy goes to the larger input (to a on ties, as torch.maximum splits... we pick a)
  Max: arith(({ g, dy: [dy], x: [a, b] }) => {
    const takeA = g.GreaterOrEqual(a!, b!);
    const z = g.scalar(0, dy!.dtype);
    return [g.Where(takeA, dy!, z), g.Where(takeA, z, dy!)];
  }),
  Min: arith(({ g, dy: [dy], x: [a, b] }) => {
    const takeA = g.LessOrEqual(a!, b!);
    const z = g.scalar(0, dy!.dtype);
    return [g.Where(takeA, dy!, z), g.Where(takeA, z, dy!)];
  }),
  // d(-x) = -dy
  Neg: defineOp("Neg", { infer: same, vjp: ({ g, dy: [dy] }) => [g.Neg(dy!)] }),
  // d|x| = dy*sign(x)  (0 at 0, as torch)
  Abs: unary(({ g, dy: [dy], x: [x] }) => [g.Mul(dy!, g.sign(x!))]),
  // d sqrt(x) = dy / (2 sqrt(x)); reuses the forward output
  Sqrt: unary(({ g, dy: [dy], y: [y] }) => [g.Div(dy!, g.Mul(y!, g.scalar(2, y!.dtype)))]),
  // d exp(x) = dy*y
  Exp: unary(({ g, dy: [dy], y: [y] }) => [g.Mul(dy!, y!)]),
  // d log(x) = dy/x
  Log: unary(({ g, dy: [dy], x: [x] }) => [g.Div(dy!, x!)]),
  // d tanh(x) = dy*(1-y^2)
  Tanh: unary(({ g, dy: [dy], y: [y] }) => [g.Mul(dy!, g.Sub(g.scalar(1, y!.dtype), g.Mul(y!, y!)))]),
  // d sigmoid(x) = dy*y*(1-y)
  Sigmoid: unary(({ g, dy: [dy], y: [y] }) => [g.Mul(dy!, g.Mul(y!, g.Sub(g.scalar(1, y!.dtype), y!)))]),
  // d erf(x) = dy * 2/sqrt(pi) * exp(-x^2)
  Erf: unary(({ g, dy: [dy], x: [x] }) => [
    g.Mul(dy!, g.Mul(g.scalar(2 / Math.sqrt(Math.PI), x!.dtype), g.Exp(g.Neg(g.Mul(x!, x!))))),
  ]),
  // d relu(x) = dy*[x>0]
  Relu: unary(({ g, dy: [dy], x: [x] }) => [g.Where(g.Greater(x!, g.scalar(0, x!.dtype)), dy!, g.scalar(0, dy!.dtype))]),
  // d(1/x) = -dy*y^2
  Reciprocal: unary(({ g, dy: [dy], y: [y] }) => [g.Neg(g.Mul(dy!, g.Mul(y!, y!)))]),
  Sign: defineOp("Sign", { infer: same, vjp: "none" }),
  Identity: defineOp("Identity", { infer: same, vjp: ({ dy: [dy] }) => [dy!] }),
  // Autodiff treats the output as a constant; ONNX sees an Identity.
  StopGradient: defineOp("StopGradient", { onnx: "Identity", infer: same, vjp: "none" }),
  // CustomGrad(y, x1..xn): ONNX sees Identity(y); autodiff skips y's subgraph and asks the rule
  // registered for this node for dL/dxi. Lets a composite recompute in backward instead of keeping
  // its intermediates alive (GELU, SNELL's merged dW).
  CustomGrad: defineOp("CustomGrad", {
    onnx: "Identity",
    onnxInputs: 1,
    infer: same,
    vjp: ({ g, node, x, y: [y], dy: [dy] }) => {
      const rule = CUSTOM_RULES.get(node);
      if (!rule) throw new Error(`CustomGrad node "${node.name}" has no registered rule`);
      return [null, ...rule(g, x.slice(1) as Value[], y!, dy!)];
    },
  }),
  // d cast(x) = cast(dy) back to x's type; casts from integers carry no gradient
  Cast: defineOp("Cast", {
    infer: (c) => [{ shape: c.x[0]!.shape, dtype: c.attrs.to as OutSpec["dtype"], constValue: c.x[0]!.constValue ?? undefined }],
    vjp: ({ g, dy: [dy], x: [x] }) => [isFloat(x!.dtype) ? g.Cast(dy!, x!.dtype) : null],
  }),
  // d where(c,a,b) = (-, where(c,dy,0), where(c,0,dy))
  Where: defineOp("Where", {
    infer: (c) => {
      const [cond, a, b] = c.x as Value[];
      if (cond!.dtype !== "bool") c.fail(`condition must be bool, got ${cond!.dtype}`);
      if (a!.dtype !== b!.dtype) c.fail(`dtypes differ: ${a!.dtype} vs ${b!.dtype}`);
      const s = broadcastShapes(cond!.shape, broadcastShapes(a!.shape, b!.shape) ?? c.fail("branches do not broadcast"));
      if (!s) c.fail("condition does not broadcast with the branches");
      return [{ shape: s!, dtype: a!.dtype }];
    },
    vjp: ({ g, dy: [dy], x: [cond], needs }) => {
      const z = g.scalar(0, dy!.dtype);
      return [null, needs[1] ? g.Where(cond!, dy!, z) : null, needs[2] ? g.Where(cond!, z, dy!) : null];
    },
  }),
  Equal: compare(),
  Less: compare(),
  Greater: compare(),
  GreaterOrEqual: compare(),
  LessOrEqual: compare(),
  And: logic(),
  Or: logic(),
  Not: defineOp("Not", { infer: same, vjp: "none" }),
};

// defineOp("") above is only a placeholder: the registry stamps each op's ONNX name from its key.
