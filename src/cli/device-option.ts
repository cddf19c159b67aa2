/** @file `--device` on the commands that run graphs (train, eval, predict, demo): the flag and its check before any work. */
import type { Command } from "commander";
import { checkDevice } from "../runtime/device-check.js";
import { DEVICES, parseDevice, type Device } from "../runtime/device.js";

/** The `--device` flag and its help, for `cmd.option(...DEVICE_OPTION)` (validated in option-rules.ts, flags and config files alike). */
export const DEVICE_OPTION = [
  "--device <name>", `where the graphs run: ${DEVICES.join(" | ")} (default cpu; a provider that cannot start fails at once, naming the fix)`,
] as const;

/** Adds `--device` to `cmd`. */
export function addDeviceOption(cmd: Command): Command {
  return cmd.option(...DEVICE_OPTION);
}

/**
 * The device a command's merged options name (default "cpu"), its provider checked to start: a missing
 * one is the ConfigError naming the fix, before any data is read or file written.
 *
 * @example
 * const device = await deviceOf(layeredConfig(cmd)); // "webgpu"
 */
export async function deviceOf(opts: { device?: unknown }): Promise<Device> {
  const device = parseDevice(String(opts.device ?? "cpu"));
  await checkDevice(device);
  return device;
}
