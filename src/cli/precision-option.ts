/** @file `--backbone-precision` on the commands that build a backbone (train, eval, predict, merge, export, demo). */
import { Option } from "commander";
import { BACKBONE_PRECISIONS } from "../models/backbone-precision.js";

/**
 * The `--backbone-precision` flag: "int8" stores the frozen block linears int8 with per-channel scales
 * and runs them on the CPU's int8 kernels (adapters, norms, head and optimizer stay float32).
 *
 * @example
 * cmd.addOption(backbonePrecisionOption());
 */
export function backbonePrecisionOption(): Option {
  return new Option("--backbone-precision <p>", "frozen backbone linears: fp32, or int8 (per-channel int8 weights, per-row int8 activations; 4x less weight memory)")
    .choices([...BACKBONE_PRECISIONS]);
}
