/** @file Child-process entry of the demo: runs one method and prints its result as one JSON line. */
import { DEMO_METHODS } from "./methods.js";
import { runMethod, type RunMethodOptions } from "./run-method.js";

const [label, optsJson] = process.argv.slice(2);
const method = DEMO_METHODS.find((m) => m.label === label);
if (!method || !optsJson) {
  process.stderr.write(`demo child: unknown method "${label}"\n`);
  process.exit(2);
}
const result = await runMethod(method, JSON.parse(optsJson) as RunMethodOptions, (line) => process.stderr.write(`  ${line}\n`));
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
