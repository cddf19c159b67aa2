/**
 * @file What runs before every command's action: the typed flags are checked (numbers, empty paths),
 * --workers is capped to the cores and --threads sets the ONNX Runtime thread count. Nothing has been
 * read or written yet, so a bad flag costs nothing.
 */
import type { Command } from "commander";
import { setDefaultIntraOpThreads } from "../runtime/ort.js";
import { println, type CliContext } from "./commands/context.js";
import { explicitFlags } from "./config-file.js";
import { capWorkers, checkOptions, checkPathOptions } from "./option-rules.js";

/** The preAction hook of the program (commander calls it with the command about to run). */
export function preAction(cmd: Command, ctx: CliContext): void {
  const flags = explicitFlags(cmd);
  checkPathOptions(flags);
  checkOptions(flags);
  if (typeof flags.workers === "number") {
    const capped = capWorkers(flags.workers);
    if (capped.warning) {
      println(ctx.stderr, capped.warning);
      cmd.setOptionValueWithSource("workers", capped.workers, "cli");
    }
  }
  setDefaultIntraOpThreads(typeof flags.threads === "number" ? flags.threads : undefined);
}
