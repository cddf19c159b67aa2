/** @file `snell golden FILE`: checks the SNELL adapter against a golden case file and prints each case's worst errors. */
import type { Command } from "commander";
import { checkGoldenFile } from "../../peft/snell/golden.js";
import { EXIT, parseNumber, println, type CliContext } from "./context.js";

export function register(program: Command, ctx: CliContext): void {
  program.command("golden")
    .description("compare SNELL's kernel, threshold and gradients with a golden file (exit 1 when over tolerance)")
    .argument("<file>", "golden case file (JSON array, see shared/golden/README.md)")
    .option("--tol <x>", "largest relative error allowed (default 1e-5)", parseNumber("--tol"))
    .action(async (file: string, o: { tol?: number }) => {
      const report = await checkGoldenFile(file, o.tol !== undefined ? { tol: o.tol } : {});
      for (const c of report.cases) {
        const errs = Object.entries(c.maxErrors).map(([k, v]) => `${k} ${k === "nonzero" ? v : v.toExponential(2)}`).join(", ");
        println(ctx.stdout, `case ${c.index}: ${c.ok ? "ok  " : "FAIL"} ${errs}${c.flips ? `, ${c.flips} threshold flips` : ""}`);
      }
      const bad = report.cases.filter((c) => !c.ok).length;
      println(ctx.stdout, bad ? `${bad} of ${report.cases.length} cases over tolerance` : `all ${report.cases.length} cases within tolerance`);
      ctx.exitCode = bad ? EXIT.failure : EXIT.ok;
    });
}
