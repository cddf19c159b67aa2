/**
 * @file The `snell` command line: builds the commander program from the command modules listed below
 * and maps errors to exit codes (2 and one line for bad input, 1 for failures, stacks only for bugs).
 */
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { ConfigError, FormatError, InternalError, ShapeError, SnellError } from "../errors.js";
import { EXIT, interruptExit, type CliContext, type CommandModule } from "./commands/context.js";
import { describeSystemError } from "./error-map.js";
import { exitWithParent } from "./exit-with-parent.js";
import { preAction } from "./pre-action.js";

/**
 * Command modules, in help order. Each exports `register(program, ctx)` (CommandModule); a listed
 * module that does not exist yet (the demo) is left out of the program.
 */
export const COMMANDS = ["train", "eval", "predict", "merge", "export", "info", "golden", "demo", "submit", "sweep", "worker", "status", "report", "web"] as const;

async function loadCommand(name: string): Promise<CommandModule | null> {
  try {
    return (await import(`./commands/${name}.js`)) as CommandModule;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "ERR_MODULE_NOT_FOUND" && err.message.includes(`commands/${name}.`)) return null;
    throw e;
  }
}

/**
 * Default context: the process's streams, and SIGINT and SIGTERM handlers (SIGTERM is what `timeout`,
 * Docker and Slurm send: it checkpoints like Ctrl-C). The signal's name is the abort reason; a second
 * signal exits at once.
 */
export function processContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    exitCode: EXIT.ok,
    async withInterrupt(body) {
      const ac = new AbortController();
      const on = (sig: NodeJS.Signals) => () => {
        if (ac.signal.aborted) process.exit(interruptExit(sig));
        process.stderr.write(`\n${sig === "SIGINT" ? "interrupt" : sig}: finishing the current step and writing a checkpoint (${sig === "SIGINT" ? "Ctrl-C" : "the signal"} again to quit at once)\n`);
        ac.abort(sig);
      };
      const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, on(sig)] as const);
      for (const [sig, h] of handlers) process.on(sig, h);
      try {
        return await body(ac.signal);
      } finally {
        for (const [sig, h] of handlers) process.off(sig, h);
      }
    },
  };
}

/** Commander's streams; its usage errors get the "snell: " prefix every other error line has. */
function output(ctx: CliContext) {
  return {
    writeOut: (s: string) => ctx.stdout.write(s),
    writeErr: (s: string) => ctx.stderr.write(s),
    outputError: (s: string, write: (s: string) => void) => write(s.startsWith("error:") ? `snell: ${s}` : s),
  };
}

/** Builds the program with every available command registered on `ctx`. */
export async function buildProgram(ctx: CliContext): Promise<Command> {
  const program = new Command("snell")
    .description("parameter-efficient fine-tuning of vision transformers with SNELL (sparse kernelized LoRA) on ONNX Runtime")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput(output(ctx));
  for (const name of COMMANDS) (await loadCommand(name))?.register(program, ctx);
  program.hook("preAction", (_program, action) => preAction(action, ctx));
  for (const c of program.commands) {
    c.exitOverride().showHelpAfterError("(run with --help for usage)").configureOutput(output(ctx));
  }
  return program;
}

/** The exit code for an error, and what to print: one line for user errors, the stack for bugs. */
export function reportError(e: unknown, ctx: CliContext): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
  const user = e instanceof ConfigError || e instanceof FormatError || e instanceof ShapeError;
  if (user) {
    ctx.stderr.write(`snell: error: ${(e as Error).message}\n`);
    return EXIT.usage;
  }
  const mapped = describeSystemError(e);
  if (mapped && !(e instanceof SnellError)) {
    ctx.stderr.write(`snell: error: ${mapped.message}\n`);
    return mapped.usage ? EXIT.usage : EXIT.failure;
  }
  if (e instanceof SnellError && !(e instanceof InternalError)) {
    ctx.stderr.write(`snell: error: ${e.message}\n`);
    return EXIT.failure;
  }
  ctx.stderr.write(`snell: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
  return EXIT.failure;
}

/**
 * Runs the CLI on `argv` (without node and script) and returns the exit code.
 *
 * @example
 * process.exitCode = await runCli(["train", "--recipe", "vtab/cifar", "--data", "data/cifar"]);
 */
export async function runCli(argv: readonly string[], ctx: CliContext = processContext()): Promise<number> {
  try {
    const program = await buildProgram(ctx);
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: "user" });
    return ctx.exitCode;
  } catch (e) {
    return reportError(e, ctx);
  }
}

/** Entry point of bin/snell.js and `npm run snell`. */
export async function main(): Promise<void> {
  exitWithParent();
  process.exitCode = await runCli(process.argv.slice(2));
}

const entry = process.argv[1] ? fs.realpathSync(process.argv[1]) : "";
if (entry === fs.realpathSync(fileURLToPath(import.meta.url))) await main();
