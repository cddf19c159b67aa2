/** @file The op registry: every op the IR can emit, each with its shape and gradient rule. */
import type { OpDef } from "../op.js";
import { conv } from "./conv.js";
import { elementwise } from "./elementwise.js";
import { matmul } from "./matmul.js";
import { movement } from "./movement.js";
import { nn } from "./nn.js";
import { quantize } from "./quantize.js";
import { random } from "./random.js";
import { reduce } from "./reduce.js";

const families = { ...elementwise, ...matmul, ...reduce, ...movement, ...nn, ...conv, ...random, ...quantize };

/** Ops by name; an op defined without an ONNX name emits the op of its key. */
export const OPS: Record<keyof typeof families, OpDef> = Object.fromEntries(
  Object.entries(families).map(([k, d]) => [k, d.onnx ? d : { ...d, onnx: k }]),
) as Record<keyof typeof families, OpDef>;

export type OpName = keyof typeof OPS;

/** Ops whose trailing outputs are optional in ONNX and may be left unnamed when unused. */
export const OPTIONAL_OUTPUTS: Partial<Record<OpName, number>> = { LayerNormalization: 1 };
